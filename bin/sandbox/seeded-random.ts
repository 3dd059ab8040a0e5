/**
 * Seeded uniform [0, 1): mulberry32, small and good enough to shape a workload or a test's choices, so
 * that a run (a demo day, a benchmark burst, a failing interleaving) replays exactly from its seed.
 * The simulator has its own streams (bench/simulator/random.ts).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
