/**
 * How the DynamoDB adapter stores a day's usage counter and pages a ranged job query: one attribute per
 * (pool, category, market, instance type), named `u|<pool>|<category>|<market>|<type>` (none of the
 * parts can hold `|`), so every booking is one UpdateItem of `ADD`s; and a query's LastEvaluatedKey
 * handed to the caller as an opaque base64url cursor.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  type CostMarket,
  costMarkets,
  mergeUsage,
  type OverheadCategory,
  type OverheadUsage,
  overheadCategories,
} from '../core/cost-usage.js';

const prefix = 'u|';

export function usageAttribute(line: OverheadUsage): string {
  return `${prefix}${line.pool}|${line.category}|${line.market}|${line.instanceType}`;
}

export function parseUsageAttribute(name: string, seconds: number): OverheadUsage | undefined {
  if (!name.startsWith(prefix) || !Number.isFinite(seconds)) return undefined;
  const [pool, category, market, instanceType] = name.slice(prefix.length).split('|');
  if (pool === undefined || instanceType === undefined) return undefined;
  if (!overheadCategories.includes(category as OverheadCategory)) return undefined;
  if (!costMarkets.includes(market as CostMarket)) return undefined;
  return {
    pool,
    category: category as OverheadCategory,
    market: market as CostMarket,
    instanceType,
    seconds,
  };
}

/** Validated and merged lines (see mergeUsage). */
export const usageLines = mergeUsage;

export function encodeJobCursor(key: Record<string, AttributeValue>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The key a cursor carries; a cursor that is not one of ours is refused before any read. */
export function decodeJobCursor(cursor: string): Record<string, AttributeValue> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const valid =
    typeof parsed === 'object' &&
    parsed !== null &&
    Object.values(parsed).every(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        Object.keys(v).length === 1 &&
        (typeof (v as { S?: unknown }).S === 'string' || typeof (v as { N?: unknown }).N === 'string'),
    ) &&
    'pk' in parsed;
  if (!valid) throw new RangeError('listJobsUpdated: the cursor is not one this store handed out');
  return parsed as Record<string, AttributeValue>;
}
