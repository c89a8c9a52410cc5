/**
 * A storage for unit tests of one agent loop: the `mock://` scheme's handler, answering as the test scripts and
 * recording each call. The loops reach it through a real `StorageRegistry`; real storage is tested in the
 * integration suites.
 */
import type { ProtocolHandler, StatResult, StorageOptions } from '../../src/storage/protocol.js'
import { Script } from './script.js'

export type StorageCall = { op: 'stat' | 'adler32' | 'remove'; url: string; scope: StorageOptions['scope'] }

/** Unless scripted otherwise, nothing is there (stat null) and every remove succeeds. */
export class ScriptedStorage implements ProtocolHandler {
  readonly schemes = ['mock'] as const
  readonly calls: StorageCall[] = []
  readonly script = {
    stat: new Script<[string], StatResult | null>(() => null),
    adler32: new Script<[string], string>(() => '00000001'),
    remove: new Script<[string], void>(() => {}),
  }

  stat(url: string, opts?: StorageOptions): Promise<StatResult | null> {
    this.calls.push({ op: 'stat', url, scope: opts?.scope })
    return this.script.stat.answer(url)
  }

  adler32(url: string, opts?: StorageOptions): Promise<string> {
    this.calls.push({ op: 'adler32', url, scope: opts?.scope })
    return this.script.adler32.answer(url)
  }

  remove(url: string, opts?: StorageOptions): Promise<void> {
    this.calls.push({ op: 'remove', url, scope: opts?.scope })
    return this.script.remove.answer(url)
  }

  /** The URLs removed (or tried), in order. */
  removed(): string[] {
    return this.calls.filter((c) => c.op === 'remove').map((c) => c.url)
  }
}
