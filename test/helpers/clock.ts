/** A clock a test moves by hand: `clock` for the app, `set` to jump to another instant. */
export function movableClock(start: string) {
  let now = new Date(start)
  return { clock: () => now, set: (iso: string) => (now = new Date(iso)) }
}
