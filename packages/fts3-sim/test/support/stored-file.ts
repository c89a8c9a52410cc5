/** Files on a real XRootD site for the official client's copies: a random source and a free destination beside it. */
import { randomBytes } from 'node:crypto'
import { putFile, sitePath, type XrootdSite } from '../../../../test/support/xrootd.js'

let serial = 0

/** Writes `bytes` random bytes under alice's temporary area; `tag` names the test file's files. */
export async function storedFile(site: XrootdSite, tag: string, bytes: number) {
  serial++
  const data = randomBytes(bytes)
  const lfn = `/store/temp/user/alice/${tag}_${serial}.root`
  await putFile(site, lfn, data)
  const out = `/store/user/alice/${tag}_${serial}.root`
  return {
    data,
    source: `${site.url}/${lfn}`,
    destination: `${site.url}/${out}`,
    destinationPath: sitePath(site, out),
  }
}
