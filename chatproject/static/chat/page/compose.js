/**
 * Sending what is typed in a message field. The text stays in the field
 * until the server confirms it, so a failed send loses nothing; on
 * confirmation only the sent text leaves the field, so what the user typed
 * while the send was in flight stays.
 */

/**
 * Send `input`'s text with `send(text)` (a promise). Resolves with its
 * result; rejects, leaving the field as it is, when the send fails.
 */
export async function sendDraft(input, send) {
  const text = input.value;
  const result = await send(text);
  const now = input.value;
  input.value = now.startsWith(text) ? now.slice(text.length).trimStart() : now;
  return result;
}
