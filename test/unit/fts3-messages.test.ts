/** Which FTS completion messages the fts3 engine acts on (docs/fts3-rest.md §5), and what they mean. */
import { describe, expect, it } from 'vitest'
import { outcomeOfMessage } from '../../src/engines/fts3/stomp-receiver.js'

const ID = 'c0ffee00'.repeat(4)
const filter = { instance: 'prod', vo: 'cms' }

function message(over: Record<string, unknown> = {}, terminator = ' '): string {
  return `${JSON.stringify({
    job_id: 'job-1',
    file_id: 42,
    vo: 'cms',
    t_final_transfer_state: 'Ok',
    file_metadata: { transfer: ID, attempt: 2, submission: 3 },
    job_metadata: { issuer: 'ASO', instance: 'prod', user: 'alice', auth_method: 'certificate' },
    file_size: 1234,
    ...over,
  })}${terminator}`
}

describe('completion messages', () => {
  it('an Ok of ours is done, with the trailing terminator (a space, or EOT once) trimmed', () => {
    for (const t of [' ', '\x04']) {
      expect(outcomeOfMessage(message({}, t), { vo: 'cms' }, filter)).toEqual({
        jobId: 'job-1',
        transferId: ID,
        attempt: 2,
        method: 'fts3',
        engineFileId: '42',
        result: 'done',
        reason: 'copied by FTS, checksums verified',
        bytes: 1234,
      })
    }
  })

  it("other deployments' messages (same issuer, other instance), other VOs and other issuers are ignored", () => {
    const other = { job_metadata: { issuer: 'ASO', instance: 'test' } }
    expect(outcomeOfMessage(message(other), {}, filter)).toBeNull()
    expect(outcomeOfMessage(message({ vo: 'atlas' }), { vo: 'atlas' }, filter)).toBeNull()
    expect(
      outcomeOfMessage(message({ job_metadata: { issuer: 'rucio', instance: 'prod' } }), {}, filter),
    ).toBeNull()
    expect(outcomeOfMessage(message({ file_metadata: { request_id: 'x' } }), {}, filter)).toBeNull()
    expect(outcomeOfMessage('not json ', {}, filter)).toBeNull()
  })

  it('an Error is final only when FTS will not retry it: !is_recoverable || retry >= retry_max', () => {
    const error = (is_recoverable: boolean, retry: number, retry_max: number) =>
      outcomeOfMessage(
        message({
          t_final_transfer_state: 'Error',
          tr_error_scope: 'DESTINATION',
          t_error_code: 28,
          t__error_message: 'No space left on device',
          is_recoverable,
          retry,
          retry_max,
        }),
        {},
        filter,
      )
    expect(error(true, 0, 2)).toBeNull()
    expect(error(true, 2, 2)).toMatchObject({ result: 'failed', recoverable: true })
    expect(error(false, 0, 2)).toMatchObject({
      result: 'failed',
      reason: 'DESTINATION [28] No space left on device',
      recoverable: false,
    })
  })

  it('an Abort is a cancel', () => {
    expect(outcomeOfMessage(message({ t_final_transfer_state: 'Abort' }), {}, filter)).toMatchObject({
      result: 'killed',
      reason: 'Job canceled by the user',
    })
  })
})
