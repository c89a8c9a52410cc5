/**
 * Authenticated Rucio calls: the token rides in X-Rucio-Auth-Token; a 401 CannotAuthenticate (an expired,
 * revoked or unknown token) logs in again and repeats the call once. `expect` turns any other status into
 * the classified CatalogError of errors.ts; `refusal` lets a caller adopt an expected one (409 exists).
 */
import { CatalogError } from '../catalog.js'
import type { RucioTokens } from './auth.js'
import { type RefusalContext, type RucioRefusal, refusalError, refusalOf } from './errors.js'
import { parseJson, parseJsonStream, type RucioAnswer, type RucioCall, type RucioHttp } from './http.js'

export class RucioClient {
  constructor(
    private readonly http: RucioHttp,
    private readonly tokens: RucioTokens,
  ) {}

  get baseUrl(): string {
    return this.http.baseUrl
  }

  /** One call with a valid token, whatever Rucio answers. */
  async call(call: RucioCall, signal?: AbortSignal): Promise<RucioAnswer> {
    const token = await this.tokens.token(signal)
    const answer = await this.send(call, token, signal)
    if (answer.status !== 401 || refusalOf(answer).exceptionClass !== 'CannotAuthenticate') return answer
    this.tokens.refused(token)
    return this.send(call, await this.tokens.token(signal), signal)
  }

  /** A call that must answer one of `ok`; any other answer throws the classified CatalogError. */
  async expect(
    call: RucioCall,
    ok: readonly number[],
    ctx: RefusalContext,
    signal?: AbortSignal,
  ): Promise<RucioAnswer> {
    const answer = await this.call(call, signal)
    if (!ok.includes(answer.status)) throw refusalError(answer, this.what(call), ctx)
    return answer
  }

  /**
   * A call whose refusals of class `adopt` are an expected outcome (returned), others thrown; success is
   * `null`.
   */
  async tolerate(
    call: RucioCall,
    ok: readonly number[],
    adopt: readonly string[],
    ctx: RefusalContext,
    signal?: AbortSignal,
  ): Promise<RucioRefusal | null> {
    const answer = await this.call(call, signal)
    if (ok.includes(answer.status)) return null
    const refusal = refusalOf(answer)
    if (adopt.includes(refusal.exceptionClass)) return refusal
    throw refusalError(answer, this.what(call), ctx)
  }

  /** GET of one JSON object. */
  async getJson(path: string, ctx: RefusalContext, signal?: AbortSignal): Promise<unknown> {
    const answer = await this.expect({ method: 'GET', path }, [200], ctx, signal)
    return parseJson(answer.text)
  }

  /** A list call: its x-json-stream answer as objects. */
  async list(call: Omit<RucioCall, 'stream'>, ctx: RefusalContext, signal?: AbortSignal): Promise<unknown[]> {
    const answer = await this.expect({ ...call, stream: true }, [200], ctx, signal)
    try {
      return parseJsonStream(answer.text)
    } catch {
      // a proxy's page, or a cut body: the server is not answering as Rucio
      throw new CatalogError(
        'catalog-transient',
        `${this.what(call)} answered 200 with a body that is not x-json-stream: ${answer.text.slice(0, 200)}; retried later`,
        200,
      )
    }
  }

  what(call: RucioCall): string {
    return `${call.method} ${this.http.baseUrl}${call.path}`
  }

  private send(call: RucioCall, token: string, signal?: AbortSignal): Promise<RucioAnswer> {
    return this.http.send({ ...call, headers: { ...call.headers, 'x-rucio-auth-token': token } }, signal)
  }
}
