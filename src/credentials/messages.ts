/** How the credentials modules word dates and causes in the messages they give users. */

/** `2024-05-01T12:00:00Z`: ISO 8601 without milliseconds, for messages. */
export function formatDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
