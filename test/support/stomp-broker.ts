/**
 * A real STOMP broker for tests: Debian's ActiveMQ (package `activemq`), run in the foreground on a free
 * loopback port with a non-persistent broker in a temp dir. It starts in about 2 s inside `unshare -n`
 * (RabbitMQ took 5.5 s there and leaves an epmd daemon behind), and it is what FTS's own brokers run.
 * With `tls`, also STOMP over TLS from the test PKI: a connector with the host certificate (keystore and
 * truststore made with openssl and keytool, PKCS12), and one more that requires a client certificate issued
 * by the test CA, and a login (BROKER_LOGIN) next to anonymous access. Also a subscriber that collects what a topic receives (plain or over TLS).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import type { IMessage } from '@stomp/stompjs'
import { type StompSettings, stompClient, stompTarget } from '../../src/stomp/index.js'
import { openssl, type TestPki } from './pki.js'
import { freePort } from './xrootd.js'

const ACTIVEMQ_HOME = '/usr/share/activemq'
const execFileP = promisify(execFile)

export interface StompBroker {
  /** stomp://127.0.0.1:PORT */
  stompUrl: string
  port: number
  /** with `tls`: stomp+ssl://127.0.0.1:PORT, the host certificate of the test PKI, no client certificate asked */
  sslUrl?: string
  /** with `tls`: stomp+ssl://127.0.0.1:PORT that refuses clients without a certificate of the test CA */
  mtlsUrl?: string
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

interface SslPorts {
  ssl: number
  mtls: number
  keyStore: string
  trustStore: string
}

const STORE_PASSWORD = 'aso-test'

/** The one login a broker started with `tls` knows (it lets anonymous clients in too). */
export const BROKER_LOGIN = { username: 'aso', password: 'broker-secret' }

function brokerXml(dataDir: string, port: number, ssl?: SslPorts): string {
  // with TLS, also a login to check (anonymous clients are still let in)
  const plugins = ssl
    ? `
    <plugins>
      <simpleAuthenticationPlugin anonymousAccessAllowed="true">
        <users>
          <authenticationUser username="${BROKER_LOGIN.username}" password="${BROKER_LOGIN.password}" groups="users"/>
        </users>
      </simpleAuthenticationPlugin>
    </plugins>`
    : ''
  const sslContext = ssl
    ? `
    <sslContext>
      <sslContext keyStore="file:${ssl.keyStore}" keyStorePassword="${STORE_PASSWORD}" keyStoreType="pkcs12"
                  trustStore="file:${ssl.trustStore}" trustStorePassword="${STORE_PASSWORD}" trustStoreType="pkcs12"/>
    </sslContext>`
    : ''
  const sslConnectors = ssl
    ? `
      <transportConnector name="stomp+ssl" uri="stomp+ssl://127.0.0.1:${ssl.ssl}"/>
      <transportConnector name="stomp+ssl-mtls" uri="stomp+ssl://127.0.0.1:${ssl.mtls}?transport.needClientAuth=true"/>`
    : ''
  return `<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="aso-test" useJmx="false" persistent="false"
          advisorySupport="false" schedulerSupport="false" dataDirectory="${dataDir}">${plugins}${sslContext}
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${port}"/>${sslConnectors}
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

async function allListening(ports: number[]): Promise<boolean> {
  for (const p of ports) if (!(await isListening(p))) return false
  return true
}

/** Whether something accepts connections on the loopback port. */
export function canConnect(port: number): Promise<boolean> {
  return isListening(port)
}

/** The broker's keystore (host certificate and key) and truststore (the test CA), PKCS12. */
async function javaStores(conf: string, pki: TestPki): Promise<{ keyStore: string; trustStore: string }> {
  const keyStore = path.join(conf, 'broker.p12')
  const trustStore = path.join(conf, 'trust.p12')
  await openssl([
    'pkcs12',
    '-export',
    '-in',
    pki.host.certPath,
    '-inkey',
    pki.host.keyPath,
    '-certfile',
    pki.ca.certPath,
    '-name',
    'broker',
    '-out',
    keyStore,
    '-passout',
    `pass:${STORE_PASSWORD}`,
  ])
  await execFileP('keytool', [
    '-importcert',
    '-noprompt',
    '-alias',
    'test-ca',
    '-file',
    pki.ca.certPath,
    '-keystore',
    trustStore,
    '-storetype',
    'pkcs12',
    '-storepass',
    STORE_PASSWORD,
  ])
  return { keyStore, trustStore }
}

export async function startStompBroker(
  opts: { readyTimeoutMs?: number; tls?: TestPki } = {},
): Promise<StompBroker> {
  requireActivemq()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aso-activemq-'))
  const conf = path.join(dir, 'conf')
  await mkdir(conf, { recursive: true })
  const port = await freePort()
  const ssl: SslPorts | undefined = opts.tls
    ? { ssl: await freePort(), mtls: await freePort(), ...(await javaStores(conf, opts.tls)) }
    : undefined
  const ports = ssl ? [port, ssl.ssl, ssl.mtls] : [port]
  await writeFile(path.join(conf, 'activemq.xml'), brokerXml(path.join(dir, 'data'), port, ssl))
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
    while (!(await allListening(ports))) {
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
    ...(ssl
      ? { sslUrl: `stomp+ssl://127.0.0.1:${ssl.ssl}`, mtlsUrl: `stomp+ssl://127.0.0.1:${ssl.mtls}` }
      : {}),
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

/**
 * Subscribes to `/topic/<topic>` (ack auto, as Rucio's receiver) and collects every message; `broker` is a URL
 * or full settings (STOMP over TLS with a CA directory, a client certificate).
 */
export async function subscribeTopic(
  broker: string | StompSettings,
  topic: string,
): Promise<TopicSubscriber> {
  const messages: ReceivedMessage[] = []
  const settings = typeof broker === 'string' ? { url: broker } : broker
  let connection: ReturnType<typeof stompClient> | undefined
  await new Promise<void>((resolve) => {
    connection = stompClient(stompTarget(settings), {
      reconnectDelay: 200,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      onConnect: () => {
        connection!.client.subscribe(`/topic/${topic}`, (m: IMessage) => {
          messages.push({ body: m.body, headers: { ...m.headers } })
        })
        resolve()
      },
    })
    connection.client.activate()
  })
  const { client } = connection!
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
