/**
 * The EC2 Query protocol's request side: a form-encoded body of flattened keys
 * (`TagSpecification.1.Tag.2.Key=…`, `InstanceId.1=…`), as @aws-sdk/client-ec2 sends it. Lists are
 * 1-based and never wrapped in `.member.` (that is the plain Query protocol, not EC2's).
 */
export class QueryParams {
  private constructor(private readonly entries: ReadonlyMap<string, string>) {}

  static parse(body: string): QueryParams {
    return new QueryParams(new Map(new URLSearchParams(body)));
  }

  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  int(key: string): number | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    const n = Number(value);
    return Number.isInteger(n) ? n : Number.NaN;
  }

  bool(key: string): boolean | undefined {
    const value = this.entries.get(key);
    return value === undefined ? undefined : value === 'true';
  }

  /** `Prefix.1`, `Prefix.2`, … in index order. */
  list(prefix: string): string[] {
    return this.indexed(prefix)
      .map((i) => this.entries.get(`${prefix}.${i}`))
      .filter((v): v is string => v !== undefined);
  }

  /** `Prefix.N.*` as one QueryParams per N, in index order. */
  structs(prefix: string): QueryParams[] {
    return this.indexed(prefix).map((i) => this.sub(`${prefix}.${i}`));
  }

  /** `Prefix.*` with the prefix removed. */
  sub(prefix: string): QueryParams {
    const start = `${prefix}.`;
    return new QueryParams(
      new Map(
        [...this.entries].filter(([k]) => k.startsWith(start)).map(([k, v]) => [k.slice(start.length), v]),
      ),
    );
  }

  has(prefix: string): boolean {
    return [...this.entries.keys()].some((k) => k === prefix || k.startsWith(`${prefix}.`));
  }

  /** Every entry but the given keys, sorted: what makes two requests "the same" for a client token. */
  fingerprint(...except: string[]): string {
    return JSON.stringify(
      [...this.entries].filter(([k]) => !except.includes(k)).sort(([a], [b]) => (a < b ? -1 : 1)),
    );
  }

  toRecord(): Record<string, string> {
    return Object.fromEntries(this.entries);
  }

  private indexed(prefix: string): number[] {
    const start = `${prefix}.`;
    const indexes = new Set<number>();
    for (const key of this.entries.keys()) {
      if (!key.startsWith(start)) continue;
      const index = Number(key.slice(start.length).split('.')[0]);
      if (Number.isInteger(index) && index > 0) indexes.add(index);
    }
    return [...indexes].sort((a, b) => a - b);
  }
}
