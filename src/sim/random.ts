/** Seeded randomness for the simulation: the same seed gives the same day, on any machine. */

/** mulberry32: small, fast, good enough for workload generation. Returns numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A number in [0, 1) from a seed and a key, without state: per-file draws that do not depend on order. */
export function hashUnit(seed: number, key: string): number {
  let h = (2166136261 ^ seed) >>> 0
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0
  return rng(h)()
}

/** A standard normal draw (Box-Muller). */
export function normal(r: () => number): number {
  const u = 1 - r()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r())
}

/** Log-normal with the given median and sigma (of the log). */
export function logNormal(r: () => number, median: number, sigma: number): number {
  return median * Math.exp(sigma * normal(r))
}

/** Cumulative weights of a Zipf law over n ranks with exponent s, for `pick`. */
export function zipfWeights(n: number, s: number): number[] {
  const w: number[] = []
  let sum = 0
  for (let i = 1; i <= n; i++) {
    sum += 1 / i ** s
    w.push(sum)
  }
  return w.map((x) => x / sum)
}

/** Index drawn from cumulative weights (binary search). */
export function pick(cumulative: readonly number[], u: number): number {
  let lo = 0
  let hi = cumulative.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (cumulative[mid]! > u) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** Cumulative weights from plain weights. */
export function cumulative(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0)
  let sum = 0
  return weights.map((w) => {
    sum += w
    return sum / total
  })
}
