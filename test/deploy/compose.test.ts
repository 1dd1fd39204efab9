import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { parse } from 'yaml'
import { ROOT } from '../helpers/service-process.js'

/**
 * The Docker compose stacks (issue #15, item 6) and the Dockerfile, read as data: no Docker engine
 * runs on our build machines. What a stack must hold for the ledger to work in it:
 * - a pinned KurrentDB image (a patch release, at least 25.1 for atomic multi-stream appends);
 * - ports published on 127.0.0.1 only (insecure KurrentDB, plain-HTTP ledger);
 * - the API keys file and the SQLite file on the ledger's volume, where the image's user may write
 *   (before: `./data/keys.json` under /app, not writable, so every /v1 call was 401);
 * - health checks, named log volumes, and in the cluster gossip seeds without `+discover`.
 * Then `docker-compose config -q` (Debian's compose v1, which parses without an engine) on both
 * files, skipped when the command is missing.
 */

const FILES = ['docker-compose.yml', 'docker-compose.cluster.yml'] as const
const CLUSTER_FILE = 'docker-compose.cluster.yml'

/** The oldest server with multi-stream appends, [major, minor] (client 1.3.1,
 * dist/streams/appendToStream/index.js: UnsupportedError('multiStreamAppend', '25.1')). */
const MIN_SERVER_FOR_ATOMIC_APPENDS = [25, 1] as const
/** MaxAppendSize's default from 25.1, bytes: TFConsts.ChunkSize (src/KurrentDB.Core/Configuration/ClusterVNodeOptions.cs). */
const DEFAULT_MAX_APPEND_SIZE_BYTES = 256 * 1024 * 1024
/** Longest one `docker-compose config` may take, milliseconds (python start-up on a loaded machine). */
const COMPOSE_CONFIG_TIMEOUT_MS = 120_000

/** The parts of a compose service these tests read. */
interface Service {
  image?: string
  build?: unknown
  environment?: Record<string, string | number | boolean | null> | string[]
  ports?: (string | number | { host_ip?: string; published?: string | number; target?: number })[]
  volumes?: (string | { type?: string; source?: string; target?: string })[]
  healthcheck?: { test?: string | string[]; disable?: boolean }
  depends_on?: string[] | Record<string, { condition?: string }>
}
interface ComposeFile {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}

/** The file parsed, YAML merge keys (`<<: *anchor`) applied as compose applies them. */
const load = (file: string): ComposeFile => parse(fs.readFileSync(path.join(ROOT, file), 'utf8'), { merge: true }) as ComposeFile

/** A service's environment as a map (compose accepts a map or a list of `KEY=value`). */
function env(s: Service): Record<string, string> {
  const out: Record<string, string> = {}
  if (Array.isArray(s.environment)) {
    for (const item of s.environment) {
      const i = item.indexOf('=')
      out[i < 0 ? item : item.slice(0, i)] = i < 0 ? '' : item.slice(i + 1)
    }
  } else for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = v === null ? '' : String(v)
  return out
}

/** A service's volume mounts as { source, target } (short `source:target[:mode]` or long syntax). */
function mounts(s: Service): { source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source, target] = v.split(':')
      return { source: source!, target: target ?? source! }
    }
    return { source: v.source ?? '', target: v.target ?? '' }
  })
}

/** The KurrentDB nodes of a file: the services running a kurrentdb image. */
const kurrentNodes = (c: ComposeFile) => Object.entries(c.services).filter(([, s]) => /\/kurrentdb:/.test(s.image ?? ''))

/** True when `p` is `dir` or inside it (POSIX paths, as in the container). */
const isUnder = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/')

const healthTest = (s: Service) => [s.healthcheck?.test ?? []].flat().join(' ')

/** The Dockerfile's last stage (the image that runs): its ENV pairs, RUN, USER, VOLUME and HEALTHCHECK lines. */
function runtimeStage() {
  // Continuation lines joined; comments dropped.
  const text = fs
    .readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
  const from = text.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0)
  const stage = text.slice(from[from.length - 1])
  const envs: Record<string, string> = {}
  for (const l of stage.filter((x) => /^ENV\s/i.test(x)))
    for (const m of l.replace(/^ENV\s+/i, '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) envs[m[1]!] = m[2]!.replace(/^"|"$/g, '')
  const lines = (kw: string) => stage.filter((x) => new RegExp(`^${kw}\\s`, 'i').test(x)).map((x) => x.replace(new RegExp(`^${kw}\\s+`, 'i'), '').trim())
  return { env: envs, run: lines('RUN'), user: lines('USER').at(-1), volume: lines('VOLUME'), healthcheck: lines('HEALTHCHECK') }
}

t.test('the KurrentDB image is pinned to a patch release, at least 25.1, the same in both files', async (t) => {
  const images = new Set<string>()
  for (const file of FILES) {
    const nodes = kurrentNodes(load(file))
    t.ok(nodes.length > 0, `${file} runs KurrentDB`)
    for (const [name, s] of nodes) {
      const m = /^docker\.kurrent\.io\/kurrent-(?:lts|latest)\/kurrentdb:(\d+)\.(\d+)\.(\d+)$/.exec(s.image!)
      t.ok(m, `${file} ${name}: ${s.image} names registry, major, minor and patch (not a floating tag)`)
      if (!m) continue
      const [major, minor] = [Number(m[1]), Number(m[2])]
      const [minMajor, minMinor] = MIN_SERVER_FOR_ATOMIC_APPENDS
      t.ok(major > minMajor || (major === minMajor && minor >= minMinor), `${file} ${name}: ${major}.${minor} has multi-stream appends (25.1+)`)
      images.add(s.image!)
    }
  }
  t.equal(images.size, 1, `one image for both stacks: ${[...images].join(', ')}`)
})

t.test('every published port is bound to 127.0.0.1 only', async (t) => {
  for (const file of FILES) {
    for (const [name, s] of Object.entries(load(file).services)) {
      for (const p of s.ports ?? []) {
        if (typeof p === 'object') t.equal(p.host_ip, '127.0.0.1', `${file} ${name}: ${JSON.stringify(p)}`)
        else t.match(String(p), /^127\.0\.0\.1:\d+:\d+(\/tcp)?$/, `${file} ${name}: ${p}`)
      }
    }
  }
  // The single node is reachable from the host for the conformance suite (README: LEDGER_KURRENTDB_URL=kurrentdb://127.0.0.1:2113).
  t.same(load('docker-compose.yml').services.kurrentdb!.ports, ['127.0.0.1:2113:2113'])
  t.same(load('docker-compose.yml').services.ledger!.ports, ['127.0.0.1:3000:3000'])
})

t.test('the keys file and the SQLite file are on the ledger volume, where the image user may write', async (t) => {
  const image = runtimeStage()
  // Given the image: the user it runs as, the folders it owns and declares as volumes.
  t.equal(image.user, 'node', 'the image runs as node')
  const owned = image.run.flatMap((r) => [...r.matchAll(/chown\s+(?:-R\s+)?node:node\s+(\S+)/g)].map((m) => m[1]!))
  const volumes = image.volume.flatMap((v) => (v.startsWith('[') ? (JSON.parse(v) as string[]) : v.split(/\s+/)))
  t.ok(owned.length > 0, `folders chown'd to node: ${owned.join(', ')}`)
  const writable = owned.filter((d) => volumes.includes(d))
  t.ok(writable.length > 0, `a folder both owned by node and a volume: ${writable.join(', ')}`)
  // Then the image's own defaults write there (a relative path would land under WORKDIR /app: the 401 bug).
  for (const key of ['LEDGER_KEYS_PATH', 'LEDGER_SQLITE_PATH']) {
    const p = image.env[key]
    t.ok(p !== undefined && path.posix.isAbsolute(p) && writable.some((d) => isUnder(path.posix.dirname(p), d)), `Dockerfile ENV ${key}=${p} is in ${writable.join(', ')}`)
  }
  // And each stack's ledger mounts a named volume on that folder and keeps both files in it.
  for (const file of FILES) {
    const c = load(file)
    const ledger = c.services.ledger!
    const e = env(ledger)
    const dataMounts = mounts(ledger).filter((m) => writable.includes(m.target))
    t.equal(dataMounts.length, 1, `${file}: the ledger mounts a volume on ${writable.join(', ')}`)
    const mount = dataMounts[0]
    if (!mount) continue
    t.ok(c.volumes && mount.source in c.volumes, `${file}: ${mount.source} is a named volume`)
    for (const key of ['LEDGER_KEYS_PATH', 'LEDGER_SQLITE_PATH']) {
      const p = e[key]
      t.ok(p !== undefined && path.posix.isAbsolute(p) && isUnder(path.posix.dirname(p), mount.target), `${file}: ${key}=${p} is on ${mount.target}`)
    }
  }
})

t.test('every service has a health check, the ledger waits for healthy nodes', async (t) => {
  t.match(runtimeStage().healthcheck.join(' '), /\/healthz/, 'the image checks /healthz')
  for (const file of FILES) {
    const c = load(file)
    const nodes = kurrentNodes(c)
    for (const [name] of nodes) t.match(healthTest(c.services[name]!), /\/health\/live/, `${file} ${name}: /health/live`)
    const ledger = c.services.ledger!
    t.match(healthTest(ledger), /\/healthz/, `${file} ledger: /healthz (liveness: never touches the store)`)
    const deps = ledger.depends_on
    t.ok(deps && !Array.isArray(deps), `${file}: ledger depends_on with conditions`)
    if (!deps || Array.isArray(deps)) continue
    for (const [name] of nodes) t.equal(deps[name]?.condition, 'service_healthy', `${file}: ledger waits for ${name} to be healthy`)
  }
})

t.test('each KurrentDB node keeps its data and its logs on named volumes of its own', async (t) => {
  for (const file of FILES) {
    const c = load(file)
    const sources: string[] = []
    for (const [name, s] of kurrentNodes(c)) {
      const m = mounts(s)
      for (const target of ['/var/lib/kurrentdb', '/var/log/kurrentdb']) {
        const mount = m.find((x) => x.target === target)
        t.ok(mount && c.volumes && mount.source in c.volumes, `${file} ${name}: ${target} on a named volume (${mount?.source})`)
        if (mount) sources.push(mount.source)
      }
    }
    t.equal(new Set(sources).size, sources.length, `${file}: no two mounts share a volume`)
  }
})

t.test('the cluster ledger names every node as a gossip seed, without +discover', async (t) => {
  const c = load(CLUSTER_FILE)
  const nodes = kurrentNodes(c).map(([name]) => name)
  t.equal(nodes.length, 3, 'three nodes')
  const url = env(c.services.ledger!).LEDGER_KURRENTDB_URL ?? ''
  // Client 1.3.1 (dist/Client/index.js): `+discover` with several hosts uses only the first for discovery.
  const m = /^(kurrentdb|kurrent|kdb|esdb):\/\/([^?/]+)\?(.*)$/.exec(url)
  t.ok(m, `${url}: a kurrentdb:// connection string (no +discover)`)
  if (!m) return
  t.same(m[2]!.split(',').sort(), nodes.map((n) => `${n}:2113`).sort(), 'every node, on its HTTP/gRPC port')
  t.equal(new URLSearchParams(m[3]).get('tls'), 'false', 'insecure nodes: tls=false')
  for (const name of nodes) {
    const e = env(c.services[name]!)
    t.equal(e.KURRENTDB_CLUSTER_SIZE, String(nodes.length), `${name}: cluster size`)
    t.same((e.KURRENTDB_GOSSIP_SEED ?? '').split(',').sort(), nodes.filter((n) => n !== name).map((n) => `${n}:2113`).sort(), `${name}: the other nodes as gossip seeds`)
    t.equal(e.KURRENTDB_ADVERTISE_HOST_TO_CLIENT_AS, name, `${name}: tells clients a name the ledger can resolve`)
  }
})

t.test('no node lowers MaxAppendSize below the 25.1 default (a 10,000-line submission is about 10 MB)', async (t) => {
  for (const file of FILES)
    for (const [name, s] of kurrentNodes(load(file))) {
      const set = env(s).KURRENTDB_MAX_APPEND_SIZE
      t.ok(set === undefined || Number(set) >= DEFAULT_MAX_APPEND_SIZE_BYTES, `${file} ${name}: KURRENTDB_MAX_APPEND_SIZE ${set ?? 'unset (256 MiB)'}`)
    }
})

/** How to run compose here: Debian's `docker-compose` (v1), or the `docker compose` plugin; undefined when neither exists. */
t.test('the two stacks keep their read models on volumes of their own (one folder, one compose project name)', async (t) => {
  const ledgerVolume = (file: string) => mounts(load(file).services['ledger']!).find((m) => m.target === '/data')?.source
  const single = ledgerVolume('docker-compose.yml')
  const cluster = ledgerVolume(CLUSTER_FILE)
  t.ok(single && cluster, 'both ledgers mount a named volume on /data')
  t.not(single, cluster, `${single} and ${cluster}: read models folded from one stack's log never meet the other's`)
})

function composeCommand(): string[] | undefined {
  for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8', timeout: COMPOSE_CONFIG_TIMEOUT_MS })
    if (!r.error && r.status === 0) return cmd
  }
  return undefined
}

const cmd = composeCommand()
const composeSkip = cmd ? false : "neither docker-compose nor the docker compose plugin is installed (CI installs Debian's docker-compose: .ci/run)"

t.test('docker compose config accepts both files', { skip: composeSkip }, async (t) => {
  if (!cmd) throw new Error('unreachable: skipped without a compose command')
  // The check has teeth: a misspelt key is refused, without an engine.
  const bad = path.join(t.testdir({ 'bad.yml': 'services:\n  a:\n    image: x\n    portz: ["1:1"]\n' }), 'bad.yml')
  const refused = spawnSync(cmd[0]!, [...cmd.slice(1), '-f', bad, 'config', '-q'], { encoding: 'utf8', timeout: COMPOSE_CONFIG_TIMEOUT_MS })
  t.not(refused.status, 0, `${cmd.join(' ')} refuses an invalid file: ${refused.stderr.trim()}`)
  for (const file of FILES) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), '-f', file, 'config', '-q'], { cwd: ROOT, encoding: 'utf8', timeout: COMPOSE_CONFIG_TIMEOUT_MS })
    t.equal(r.status, 0, `${cmd.join(' ')} -f ${file} config -q: ${r.stderr.trim() || 'ok'}`)
  }
})
