/**
 * Cancelling at FTS (docs/fts3-rest.md §1, §7): `DELETE /jobs/{id}` for a whole job (200 even when it had already
 * ended), `DELETE /jobs/{id}/files/{f1,f2}` for some of its files (FTS file ids, found through our per-file
 * metadata). A job FTS no longer knows has nothing left to cancel.
 */
import { type ClientAuth, type Fts3Client, httpError } from './client.js'
import { type FtsFile, fileTag, TERMINAL_FILE_STATES } from './wire.js'

/**
 * Cancels the job, or only the files of the listed transfers when that is not all of what still runs.
 * Resolves false when the server has no such job.
 */
export async function cancelAtFts(
  client: Fts3Client,
  server: string,
  auth: ClientAuth,
  jobId: string,
  transferIds?: readonly string[],
): Promise<boolean> {
  const id = encodeURIComponent(jobId)
  if (transferIds) {
    const listing = await client.call(server, auth, 'GET', `/jobs/${id}/files`)
    if (listing.status === 404) return false
    if (listing.status !== 200 || !Array.isArray(listing.json))
      throw httpError(listing, `GET ${server}/jobs/${jobId}/files`)
    const wanted = new Set(transferIds)
    const open = (listing.json as FtsFile[]).filter((f) => !TERMINAL_FILE_STATES.has(f.file_state ?? ''))
    const chosen = open.filter((f) => wanted.has(fileTag(f.file_metadata)?.transferId ?? ''))
    if (chosen.length === 0) return true
    if (chosen.length < open.length) {
      const fileIds = chosen.map((f) => f.file_id).join(',')
      const answer = await client.call(server, auth, 'DELETE', `/jobs/${id}/files/${fileIds}`)
      if (answer.status === 200) return true
      if (answer.status === 404) return false
      // multihop and reuse jobs are cancelled whole; ours are plain, but a server may say otherwise
      if (answer.status !== 400) throw httpError(answer, `DELETE ${server}/jobs/${jobId}/files`)
    }
  }
  const answer = await client.call(server, auth, 'DELETE', `/jobs/${id}`)
  if (answer.status === 200) return true
  if (answer.status === 404) return false
  throw httpError(answer, `DELETE ${server}/jobs/${jobId}`)
}
