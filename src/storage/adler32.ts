import { createAdler32, type IHasher } from 'hash-wasm'

/** Reusable adler32 hashers: creating one costs ~0.3 ms, too much per small file. */
const pool: IHasher[] = []

export async function acquireAdler32(): Promise<IHasher> {
  const h = pool.pop() ?? (await createAdler32())
  h.init()
  return h
}

export function releaseAdler32(h: IHasher): void {
  if (pool.length < 64) pool.push(h)
}

/** adler32 as FTS and XRootD print it: 8 lowercase hex digits. */
export function normaliseAdler32(value: string): string {
  return value.trim().toLowerCase().replace(/^0x/, '').padStart(8, '0')
}
