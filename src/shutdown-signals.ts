/**
 * Which signal starts the shutdown, and which one cuts it short. A terminal's Ctrl-C sends SIGINT
 * to the whole foreground process group, and `npm start` forwards the SIGINT it got to its child as
 * well: the service receives two SIGINTs a few milliseconds apart for one Ctrl-C. Taken as two
 * requests, the second would cut the graceful shutdown short (exit 1, a request in flight dropped).
 * So a repeat of the first signal within DUPLICATE_SIGNAL_WINDOW_MS is the same request; any signal
 * after that window, or another signal at any time, is a second request and ends the process at once.
 */

/** The signals that shut the service down: close-with-grace's list (src/server.ts tells it to leave
 * them to this watcher). */
export const SHUTDOWN_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'SIGTERM'] as const

export type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number]

/** How long after the first signal the same signal again counts as the same request, milliseconds:
 * npm forwards a terminal's SIGINT within milliseconds; a person pressing Ctrl-C again to force the
 * exit does so later. */
export const DUPLICATE_SIGNAL_WINDOW_MS = 1_000

/** What the watcher calls. */
export interface SignalHandlers {
  /** The first signal, when no shutdown has begun: begin the graceful shutdown. */
  first(signal: ShutdownSignal): void
  /** The first signal again, `afterMs` milliseconds after it (within the window): nothing to do. */
  duplicate(signal: ShutdownSignal, afterMs: number): void
  /** A signal during a shutdown that is not a duplicate: force the end. */
  second(signal: ShutdownSignal): void
}

/** The signal source (the process; tests pass an EventEmitter). */
export interface SignalSource {
  on(event: ShutdownSignal, listener: (signal: ShutdownSignal) => void): unknown
  removeListener(event: ShutdownSignal, listener: (signal: ShutdownSignal) => void): unknown
}

/** An installed watcher. */
export interface SignalWatcher {
  /** A shutdown began without a signal (an uncaught error, `shutdown()`): every later signal is a
   * second one. Idempotent; a shutdown begun by a signal is marked already. */
  shuttingDown(): void
  /** Removes the listeners. */
  uninstall(): void
}

/**
 * Listens for SHUTDOWN_SIGNALS on `source` (default `process`) and calls `handlers` as described
 * above; `now` (milliseconds, default `performance.now`: a monotonic clock, so that a wall clock
 * stepped back never turns a real second signal into a "duplicate") and `windowMs` (default
 * DUPLICATE_SIGNAL_WINDOW_MS) for tests.
 */
export function watchShutdownSignals(
  handlers: SignalHandlers,
  options: { source?: SignalSource; now?: () => number; windowMs?: number } = {},
): SignalWatcher {
  const source = options.source ?? (process as unknown as SignalSource)
  const now = options.now ?? (() => performance.now())
  const windowMs = options.windowMs ?? DUPLICATE_SIGNAL_WINDOW_MS
  let started: { signal: ShutdownSignal | undefined; at: number } | undefined
  const onSignal = (signal: ShutdownSignal) => {
    const at = now()
    if (started === undefined) {
      started = { signal, at }
      handlers.first(signal)
    } else if (signal === started.signal && at - started.at <= windowMs) handlers.duplicate(signal, at - started.at)
    else handlers.second(signal)
  }
  for (const signal of SHUTDOWN_SIGNALS) source.on(signal, onSignal)
  return {
    shuttingDown: () => {
      started ??= { signal: undefined, at: now() }
    },
    uninstall: () => {
      for (const signal of SHUTDOWN_SIGNALS) source.removeListener(signal, onSignal)
    },
  }
}
