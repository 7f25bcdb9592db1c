/** Password prompts for `wharf htpasswd`: the contract, and its implementation on a terminal (raw mode, no echo). */

/** Reads a password on a terminal without echoing it. */
export interface PasswordPrompt {
  /** Whether there is a terminal to prompt on. */
  readonly isTTY: boolean;
  /** Shows `question`, reads one line without echo; null when the user interrupts (Ctrl-C). */
  readHidden(question: string): Promise<string | null>;
}

/** A PasswordPrompt on a terminal: the question goes to `output`, the answer is read from `input` in raw mode. */
export function terminalPrompt(input: NodeJS.ReadStream, output: NodeJS.WritableStream): PasswordPrompt {
  // Characters typed ahead of the next question (e.g. both answers pasted at once) wait here.
  let pending = '';
  return {
    isTTY: Boolean(input.isTTY),
    readHidden(question: string): Promise<string | null> {
      return new Promise((resolve) => {
        let answer = '';
        const finish = (value: string | null, rest: string) => {
          input.off('data', onData);
          input.setRawMode(false);
          input.pause();
          pending = rest;
          output.write('\n');
          resolve(value);
        };
        const consume = (s: string) => {
          const chars = [...s];
          for (let k = 0; k < chars.length; k++) {
            const c = chars[k];
            if (c === '\r' || c === '\n' || c === '\x04') {
              // A "\r\n" pair is one line end.
              const skip = c === '\r' && chars[k + 1] === '\n' ? 2 : 1;
              return finish(answer, chars.slice(k + skip).join(''));
            }
            if (c === '\x03') return finish(null, '');
            if (c === '\x7f' || c === '\b') answer = [...answer].slice(0, -1).join('');
            else if (c === '\x15') answer = '';
            else answer += c;
          }
          return undefined;
        };
        const onData = (chunk: Buffer | string) => consume(chunk.toString());
        // Echo is off before the question shows, so an answer typed right after it is never echoed.
        input.setRawMode(true);
        output.write(question);
        input.on('data', onData);
        input.resume();
        if (pending) {
          const p = pending;
          pending = '';
          consume(p);
        }
      });
    },
  };
}
