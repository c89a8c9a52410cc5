/**
 * A real STOMP broker for tests: Debian's ActiveMQ (package `activemq`), run in the foreground on a free
 * loopback port with a non-persistent broker in a temp dir. It starts in about 2 s inside `unshare -n`
 * (RabbitMQ took 5.5 s there and leaves an epmd daemon behind), and it is what FTS's own brokers run.
 * Also a subscriber that collects what a topic receives.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Client, type IMessage } from '@stomp/stompjs'
import { TCPWrapper } from '@stomp/tcp-wrapper'
import { freePort } from './xrootd.js'

const ACTIVEMQ_HOME = '/usr/share/activemq'

export interface StompBroker {
  /** stomp://127.0.0.1:PORT */
  stompUrl: string
  port: number
  /** how long the last start took (ms) */
  startMs: number
  stop(): Promise<void>
  /** stops the broker and starts it again on the same port (subscribers must reconnect) */
  restart(): Promise<void>
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    try {
      accessSync(path.join(dir, name), constants.X_OK)
      return path.join(dir, name)
    } catch {
      // not in this directory: try the next one
    }
  }
  return null
}

/** Throws, naming the Debian package, when ActiveMQ or Java is missing. */
export function requireActivemq(): void {
  let jar = true
  try {
    accessSync(path.join(ACTIVEMQ_HOME, 'bin', 'activemq.jar'), constants.R_OK)
  } catch {
    // the jar is not there: reported below with the package to install
    jar = false
  }
  if (!jar || onPath('java') === null) {
    throw new Error(
      'ActiveMQ missing: install the Debian package activemq (scripts/install-peers.sh does it); it brings Java',
    )
  }
}

function brokerXml(dataDir: string, port: number): string {
  return `<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="aso-test" useJmx="false" persistent="false"
          advisorySupport="false" schedulerSupport="false" dataDirectory="${dataDir}">
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${port}"/>
    </transportConnectors>
  </broker>
</beans>
`
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** Whether something accepts connections on the loopback port. */
export function canConnect(port: number): Promise<boolean> {
  return isListening(port)
}

export async function startStompBroker(opts: { readyTimeoutMs?: number } = {}): Promise<StompBroker> {
  requireActivemq()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aso-activemq-'))
  const conf = path.join(dir, 'conf')
  await mkdir(conf, { recursive: true })
  const port = await freePort()
  await writeFile(path.join(conf, 'activemq.xml'), brokerXml(path.join(dir, 'data'), port))
  const logFile = path.join(dir, 'activemq.out')
  let proc: ChildProcess | undefined

  const launch = async (): Promise<number> => {
    const started = performance.now()
    const out = await open(logFile, 'a')
    const javaArgs = [
      '-Xms64m',
      '-Xmx256m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      '--add-opens',
      'java.base/java.lang=ALL-UNNAMED',
      `-Dactivemq.classpath=${conf}`,
      `-Dactivemq.home=${ACTIVEMQ_HOME}`,
      `-Dactivemq.base=${dir}`,
      `-Dactivemq.conf=${conf}`,
      `-Dactivemq.data=${path.join(dir, 'data')}`,
      '-jar',
      path.join(ACTIVEMQ_HOME, 'bin', 'activemq.jar'),
      'start',
      `xbean:file:${path.join(conf, 'activemq.xml')}`,
    ]
    const setpriv = onPath('setpriv')
    const [file, args] = setpriv
      ? [setpriv, ['--pdeathsig', 'KILL', '--', 'java', ...javaArgs]]
      : ['java', javaArgs]
    const p = spawn(file, args, { stdio: ['ignore', out.fd, out.fd], cwd: dir })
    await out.close()
    proc = p
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000)
    while (!(await isListening(port))) {
      if (p.exitCode !== null || p.signalCode !== null || Date.now() > deadline) {
        p.kill('SIGKILL')
        const log = await readFile(logFile, 'utf8').catch((e: Error) => e.message)
        throw new Error(`ActiveMQ did not start on port ${port}:\n${log.split('\n').slice(-30).join('\n')}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    return Math.round(performance.now() - started)
  }

  const stopProcess = async (): Promise<void> => {
    const p = proc
    proc = undefined
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGTERM')
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }

  const broker: StompBroker = {
    stompUrl: `stomp://127.0.0.1:${port}`,
    port,
    startMs: await launch(),
    async stop() {
      await stopProcess()
      await rm(dir, { recursive: true, force: true })
    },
    async restart() {
      await stopProcess()
      broker.startMs = await launch()
    },
  }
  return broker
}

export interface ReceivedMessage {
  /** the raw body, terminator included */
  body: string
  headers: Record<string, string>
}

export interface TopicSubscriber {
  messages: ReceivedMessage[]
  /** waits until `count` messages arrived (default timeout 20 s) */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>
  /** whether it is connected (and so subscribed: it subscribes again on every connection) */
  connected(): boolean
  close(): Promise<void>
}

/** Subscribes to `/topic/<topic>` (ack auto, as Rucio's receiver) and collects every message. */
export async function subscribeTopic(stompUrl: string, topic: string): Promise<TopicSubscriber> {
  const u = new URL(stompUrl.replace(/^stomp:/, 'http:'))
  const messages: ReceivedMessage[] = []
  const client = new Client({
    webSocketFactory: () => new TCPWrapper(u.hostname, Number(u.port)),
    reconnectDelay: 200,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
  })
  await new Promise<void>((resolve) => {
    client.onConnect = () => {
      client.subscribe(`/topic/${topic}`, (m: IMessage) => {
        messages.push({ body: m.body, headers: { ...m.headers } })
      })
      resolve()
    }
    client.activate()
  })
  return {
    messages,
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`got ${messages.length} of ${count} messages on ${topic}`)
        await new Promise((r) => setTimeout(r, 50))
      }
      return messages
    },
    connected: () => client.connected,
    close: () => client.deactivate(),
  }
}
