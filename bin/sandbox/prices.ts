// The sandbox estimates cost from the same price table as the pool tuner's EstimatedCost metric.
export * from '../../scheduler/core/prices.js';
