import { CommanderError } from 'commander'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CliExit, errorEnvelope, jsonRequested, reportError } from '../../../src/cli/exit.js'
import { AsoError } from '../../../src/domain/errors.js'

function capture() {
  const out: string[] = []
  const err: string[] = []
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0)
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => err.push(String(s)) > 0)
  return { out, err }
}

describe('errors under --json', () => {
  afterEach(() => vi.restoreAllMocks())

  it('prints {"error": {...}} on stdout and keeps the one line on stderr', () => {
    const { out, err } = capture()
    const code = reportError(
      new AsoError('not-found', 'no transfer with id 00', { field: 'id' }),
      false,
      true,
    )
    expect(code).toBe(3)
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { error: { code: 'not-found', message: 'no transfer with id 00', field: 'id' } },
    ])
    expect(err).toEqual(['aso: no transfer with id 00\n'])
  })

  it('prints nothing on stdout without --json, and keeps the exit codes', () => {
    const { out } = capture()
    expect(reportError(new AsoError('timeout', 'too slow'), false, false)).toBe(2)
    expect(reportError(new Error('boom'), false, false)).toBe(3)
    expect(out).toEqual([])
  })

  it('answers a usage error of commander and any other error in the same shape', () => {
    const usage = new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'")
    expect(errorEnvelope(usage)).toEqual({ error: { code: 'usage', message: "unknown option '--x'" } })
    expect(errorEnvelope(new Error('boom'))).toEqual({ error: { code: 'internal', message: 'boom' } })
  })

  it('prints no error for a command that ends with its own exit code, or for help', () => {
    const { out } = capture()
    expect(reportError(new CliExit(1), false, true)).toBe(1)
    expect(reportError(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), false, true)).toBe(0)
    expect(out).toEqual([])
  })

  it('sees --json only before --', () => {
    expect(jsonRequested(['list', '--json'])).toBe(true)
    expect(jsonRequested(['classify', '--', '--json'])).toBe(false)
  })
})
