import { AsoError } from '../../src/domain/errors.js'

/** Runs `call` and returns the AsoError it throws (fails the test when it throws none, or another error). */
export async function refusal(call: Promise<unknown>): Promise<AsoError> {
  try {
    await call
  } catch (e) {
    if (e instanceof AsoError) return e
    throw e
  }
  throw new Error('expected a refusal')
}
