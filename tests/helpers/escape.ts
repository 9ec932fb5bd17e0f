/** Printable form of wire bytes for failure messages: \r \n \t, \xNN for the rest, cut at maxBytes. */
export function escapeBytes(bytes: Buffer, maxBytes = 600): string {
  let s = '';
  const n = Math.min(bytes.length, maxBytes);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0x0d) s += '\\r';
    else if (b === 0x0a) s += '\\n';
    else if (b === 0x09) s += '\\t';
    else if (b === 0x5c) s += '\\\\';
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += '\\x' + b.toString(16).padStart(2, '0');
  }
  if (bytes.length > maxBytes) s += `...(+${bytes.length - maxBytes} bytes)`;
  return s;
}
