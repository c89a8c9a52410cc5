import { AsoClient } from '../client/client.js'
import { loadClientAuth } from '../client/credentials.js'
import type { Backend, ServerOptions } from './backend.js'

/** The commands through an ASO server's API. */
export async function openRemoteBackend(server: string, opts: ServerOptions): Promise<Backend> {
  const client = new AsoClient(
    server,
    await loadClientAuth(server, {
      ...(opts.proxy !== undefined ? { proxy: opts.proxy } : {}),
      ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
      ...(opts.key !== undefined ? { key: opts.key } : {}),
      ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : {}),
      ...(opts.caDir !== undefined ? { caDir: opts.caDir } : {}),
    }),
  )
  return {
    where: `ASO at ${client.server}`,
    inject: async (requests) => (await client.inject(requests)).results,
    status: (filter) => client.status(filter),
    explain: (id) => client.explain(id),
    kill: (sel) => client.kill(sel),
    retry: (sel) => client.retry(sel),
    publishRetry: (sel) => client.publishRetry(sel),
    task: (task) => client.task(task),
    list: (filter) => client.list(filter),
    tasks: (filter) => client.tasks(filter),
    whoami: () => client.whoami(),
    setLink: (source, destination, change) => client.setLink(source, destination, change),
    setUserWeight: (user, weight) => client.setUserWeight(user, weight),
    waitTask: (task, timeoutMs, progress) => client.waitForTask(task, timeoutMs, progress),
    close: () => client.close(),
  }
}
