/**
 * The API of `aso serve` in a process of its own (insecure-dev, 127.0.0.1:<free port>) that measures its own
 * event-loop delay, for benchmarks whose client must not share its loop. Started with fork(): it sends
 * `{url}` once listening; `{cmd: 'measure'}` starts a fresh histogram and `{cmd: 'report'}` answers
 * `{p50, p99, max}` in ms; `{cmd: 'stop'}` closes it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { startTestApi } from '../../test/support/api.js'

const configPath = process.argv[2]
if (!configPath || !process.send) throw new Error('usage: fork(loop-delay-api.ts, [CONFIG])')
const api = await startTestApi(configPath, { insecureDev: true })
let h = monitorEventLoopDelay({ resolution: 5 })
process.on('message', async (m: { cmd: string }) => {
  if (m.cmd === 'measure') {
    h.disable()
    h = monitorEventLoopDelay({ resolution: 5 })
    h.enable()
  } else if (m.cmd === 'report') {
    h.disable()
    const ms = (ns: number) => ns / 1e6
    process.send!({ p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) })
  } else if (m.cmd === 'stop') {
    await api.close()
    process.disconnect()
  }
})
process.send({ url: api.url })
