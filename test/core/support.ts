/**
 * Shared builders for the core's unit tests: a control plane on fakes (the same fakes the model test
 * uses), a validated two-pool config, and record builders for the pure planners.
 *
 * Ids are deterministic (the compute fake counts, the GitHub fake counts) and `random` defaults to 0,
 * so the ladder always picks the first candidate the store lists: tests state which one that is.
 */
import type { CoreDeps, RunnerSettings } from '../../scheduler/core/deps.js';
import { type PoolConfig, type PoolsConfig, validatePoolsConfig } from '../../scheduler/core/pool-config.js';
import { launchPoolInstances } from '../../scheduler/core/recycle.js';
import type { InstanceRecord, JobRecord, WorkflowJobEvent } from '../../scheduler/core/types.js';
import type { Compute } from '../../scheduler/ports/compute.js';
import { FixedClock } from '../../stand-ins/in-memory/fixed-clock.js';
import { InMemoryCompute } from '../../stand-ins/in-memory/in-memory-compute.js';
import { InMemoryEvents } from '../../stand-ins/in-memory/in-memory-events.js';
import { InMemoryGitHub } from '../../stand-ins/in-memory/in-memory-github.js';
import { InMemoryJitDelivery } from '../../stand-ins/in-memory/in-memory-jit-delivery.js';
import { InMemoryMetrics } from '../../stand-ins/in-memory/in-memory-metrics.js';
import { InMemoryPoolStore } from '../../stand-ins/in-memory/in-memory-pool-store.js';

export const subnetA = 'subnet-0000000a';
export const subnetB = 'subnet-0000000b';
export const subnetC = 'subnet-0000000c';
export const subnetZones = { [subnetA]: 'us-east-1a', [subnetB]: 'us-east-1b', [subnetC]: 'us-east-1c' };
export const repository = { owner: 'acme', name: 'app' } as const;
/** Monday 5 January 2026, 09:00 UTC. */
export const monday0900 = Date.UTC(2026, 0, 5, 9, 0, 0);

/** A raw pool document; `overrides` replace top-level fields. */
export function poolDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'linux-x64',
    labels: ['linux', 'x64'],
    architecture: 'x64',
    instanceTypes: ['m7i.large', 'm6i.large'],
    subnets: [subnetA, subnetB],
    defaultSize: 2,
    maximum: 6,
    ...overrides,
  };
}

/** Validates a document and fails loudly: test configs must be valid. */
export function validConfig(document: unknown): PoolsConfig {
  const result = validatePoolsConfig(document);
  if (!result.ok) throw new Error(`test config is invalid:\n${result.problems.join('\n')}`);
  return result.config;
}

/** `linux-x64` (two types, two zones, default 2, max 6) and `linux-arm64` (one type, one zone). */
export function testConfig(
  x64: Record<string, unknown> = {},
  settings: Record<string, unknown> = {},
): PoolsConfig {
  return validConfig({
    pools: [
      poolDocument(x64),
      poolDocument({
        name: 'linux-arm64',
        labels: ['linux', 'arm64'],
        architecture: 'arm64',
        instanceTypes: ['m7g.large'],
        subnets: [subnetA],
        defaultSize: 1,
        maximum: 3,
      }),
    ],
    settings,
  });
}

export function poolOf(config: PoolsConfig, name = 'linux-x64'): PoolConfig {
  const pool = config.pools.find((p) => p.name === name);
  if (pool === undefined) throw new Error(`no pool ${name}`);
  return pool;
}

export interface Harness {
  readonly clock: FixedClock;
  readonly store: InMemoryPoolStore;
  readonly compute: InMemoryCompute;
  readonly github: InMemoryGitHub;
  readonly jit: InMemoryJitDelivery;
  readonly events: InMemoryEvents;
  readonly metrics: InMemoryMetrics;
  readonly deps: CoreDeps;
  config: PoolsConfig;
}

export interface HarnessOptions {
  readonly config?: PoolsConfig;
  readonly random?: () => number;
  readonly runners?: RunnerSettings;
  readonly now?: number;
}

export function makeHarness(options: HarnessOptions = {}): Harness {
  const clock = new FixedClock(options.now ?? monday0900);
  const store = new InMemoryPoolStore({ clock });
  const compute = new InMemoryCompute({ clock, subnetZones });
  const github = new InMemoryGitHub({ clock });
  const jit = new InMemoryJitDelivery(clock);
  const events = new InMemoryEvents();
  const metrics = new InMemoryMetrics();
  const deps: CoreDeps = {
    store,
    compute,
    github,
    jit,
    clock,
    metrics,
    events,
    random: options.random ?? (() => 0),
    runners: options.runners ?? { owners: [{ owner: 'acme', scope: 'org', namePrefix: 'wpr' }] },
  };
  return {
    clock,
    store,
    compute,
    github,
    jit,
    events,
    metrics,
    deps,
    config: options.config ?? testConfig(),
  };
}

/**
 * Warm-pool instances as the tuner and the agent leave them: launched into the given subnets, booted,
 * powered off (stopped in EC2) and `ready` in the store. An `instanceType` other than the pool's first
 * is set while stopped. Returns the ready records in creation order (the store lists them by id).
 */
export async function readyInstances(
  h: Harness,
  subnets: readonly string[],
  options: { pool?: string; instanceType?: string } = {},
): Promise<InstanceRecord[]> {
  const pool = options.pool ?? 'linux-x64';
  const before = new Set(h.compute.allInstances().map((i) => i.id));
  const launched = await launchPoolInstances(h.deps, pool, h.config, subnets, `seed-${before.size}`);
  if (launched !== subnets.length) throw new Error(`seeding launched ${launched} of ${subnets.length}`);
  const records: InstanceRecord[] = [];
  for (const fake of h.compute.allInstances().filter((i) => !before.has(i.id))) {
    h.compute.markRunning(fake.id);
    h.compute.powerOff(fake.id);
    if (options.instanceType !== undefined) await h.compute.changeType(fake.id, options.instanceType);
    const record = await h.store.getInstance(fake.id);
    if (record === undefined) throw new Error(`no record for ${fake.id}`);
    const ready = await h.store.transitionInstance({
      id: record.id,
      from: 'launching',
      expectedVersion: record.version,
      to: 'ready',
      patch: {
        stateChangedAt: h.clock.now(),
        ...(options.instanceType !== undefined && { instanceType: options.instanceType }),
      },
    });
    if (ready.kind !== 'ok') throw new Error(`could not make ${record.id} ready`);
    records.push(ready.record);
  }
  return records;
}

/** The harness's deps with some Compute calls replaced (e.g. to move the clock during a call). */
export function withCompute(h: Harness, overrides: Partial<Compute>): CoreDeps {
  const base = h.compute;
  const compute: Compute = {
    launchForPool: (request) => base.launchForPool(request),
    launchEphemeral: (request) => base.launchEphemeral(request),
    start: (instanceId) => base.start(instanceId),
    changeType: (instanceId, instanceType) => base.changeType(instanceId, instanceType),
    terminate: (instanceIds) => base.terminate(instanceIds),
    currentSpec: (pool, instanceType) => base.currentSpec(pool, instanceType),
    listInstances: () => base.listInstances(),
    agentReason: (instanceId) => base.agentReason(instanceId),
    ...overrides,
  };
  return { ...h.deps, compute };
}

export async function mustInstance(h: Harness, id: string): Promise<InstanceRecord> {
  const record = await h.store.getInstance(id);
  if (record === undefined) throw new Error(`no instance record ${id}`);
  return record;
}

export async function mustJob(h: Harness, id: number): Promise<JobRecord> {
  const record = await h.store.getJob(id);
  if (record === undefined) throw new Error(`no job record ${id}`);
  return record;
}

let nextInstance = 1;

/** An instance record for the pure planners; every field can be overridden. */
export function instance(overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  const id = overrides.id ?? `i-${(nextInstance++).toString(16).padStart(17, '0')}`;
  return {
    id,
    pool: 'linux-x64',
    state: 'ready',
    version: 3,
    role: 'pool',
    market: 'on-demand',
    instanceType: 'm7i.large',
    subnetId: subnetA,
    availabilityZone: 'us-east-1a',
    spec: 'current',
    launchedAt: monday0900 - 3_600_000,
    stateChangedAt: monday0900 - 3_600_000,
    ...overrides,
  };
}

let nextJob = 5_000;

/** A job record for the pure planners and for seeding the store. */
export function job(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id: overrides.id ?? nextJob++,
    runId: 42,
    repository,
    labels: ['self-hosted', 'linux', 'x64'],
    pool: 'linux-x64',
    state: 'queued',
    version: 1,
    phases: {},
    attempts: [],
    reprovisions: 0,
    deliveries: ['d-0'],
    updatedAt: monday0900,
    ...overrides,
  };
}

let nextDelivery = 1;

/** A workflow_job event as the webhook handler hands it over. */
export function jobEvent(
  action: WorkflowJobEvent['action'],
  overrides: Partial<WorkflowJobEvent> = {},
): WorkflowJobEvent {
  return {
    deliveryId: `delivery-${nextDelivery++}`,
    action,
    jobId: 7_001,
    runId: 900,
    repository,
    labels: ['self-hosted', 'linux', 'x64'],
    ...overrides,
  };
}
