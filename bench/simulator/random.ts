/**
 * Seeded randomness for the simulator: a small, fast generator (sfc32, seeded through splitmix32) and
 * the distributions the reference figures call for. Every stream is derived from the run's seed and a
 * name, so adding a stream never shifts the numbers another one draws: the job trace stays the same
 * whatever the policies consume.
 */

export type Random = () => number;

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(text: string): number {
  let h = 2166136261 >>> 0; // FNV-1a
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Uniform in [0, 1), reproducible from (seed, stream). */
export function seededRandom(seed: number, stream = ''): Random {
  const init = splitmix32((seed ^ hashString(stream)) >>> 0);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // leave the correlated first outputs behind
  return next;
}

/** A value drawn in seconds. */
export type Distribution = (random: Random) => number;

export function uniform(low: number, high: number): Distribution {
  return (r) => low + (high - low) * r();
}

export function constant(value: number): Distribution {
  return () => value;
}

/** Standard normal by Box–Muller (one of the pair is enough here). */
export function standardNormal(random: Random): number {
  const u = 1 - random(); // (0, 1]: log(0) is not a number
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Log-normal given its median and the sigma of its logarithm; optionally clamped to [min, max]. */
export function lognormal(median: number, sigma: number, bounds: { min?: number; max?: number } = {}) {
  return (r: Random) => {
    const value = median * Math.exp(sigma * standardNormal(r));
    return Math.min(bounds.max ?? Number.POSITIVE_INFINITY, Math.max(bounds.min ?? 0, value));
  };
}

/** The first distribution, except with probability `share` the second (a long tail, an outage). */
export function mixture(body: Distribution, tail: Distribution, share: number): Distribution {
  return (r) => (r() < share ? tail(r) : body(r));
}

export function exponential(mean: number): Distribution {
  return (r) => -mean * Math.log(1 - r());
}

/** Poisson-distributed count (Knuth for small means, a normal approximation above). */
export function poisson(mean: number, random: Random): number {
  if (mean <= 0) return 0;
  if (mean > 60) return Math.max(0, Math.round(mean + Math.sqrt(mean) * standardNormal(random)));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

/** An integer in [low, high]. */
export function integer(low: number, high: number, random: Random): number {
  return low + Math.floor(random() * (high - low + 1));
}
