import { adler32 } from 'hash-wasm'

/** adler32 of bytes as 8 hex digits, as the post-job step reported it. */
export async function adler32Of(data: Buffer): Promise<string> {
  return adler32(data)
}
