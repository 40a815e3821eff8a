// Reads the emails `relay serve` writes to its file outbox (<data_dir>/outbox/*.eml, the
// default mailer when no smtp_url is set) and the one-time codes in them (XXXXX-XXXXX, base32).
// lib/stack.sh exports PDS_OUTBOX_DIR. Used by account-email.test.mjs and by tests that need a
// deleteAccount token (interop-tests/firehose).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const TOKEN = /\b[A-Z2-7]{5}-[A-Z2-7]{5}\b/

export function outboxDir() {
  const dir = process.env.PDS_OUTBOX_DIR
  if (!dir) throw new Error('PDS_OUTBOX_DIR is not set: run through run.sh (lib/stack.sh)')
  return dir
}

/** Every email in the outbox, oldest first: `{ name, text }`. */
export function emails() {
  let names
  try {
    names = readdirSync(outboxDir()).filter((n) => n.endsWith('.eml'))
  } catch (err) {
    if (err.code === 'ENOENT') return []
    throw err
  }
  return names.sort().map((name) => ({ name, text: readFileSync(join(outboxDir(), name), 'utf8') }))
}

/** The code in the newest email to `to` (the server writes it before answering). */
export function latestToken(to) {
  const mine = emails().filter((e) => e.text.includes(`To: ${to}`))
  const last = mine.at(-1)
  if (!last) throw new Error(`no email to ${to} in ${outboxDir()}`)
  const m = last.text.match(TOKEN)
  if (!m) throw new Error(`no code in ${last.name}`)
  return m[0]
}
