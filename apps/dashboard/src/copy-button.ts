import { h } from './dom.ts';

/** A button that copies `text` to the clipboard and says so for a moment ("Copied"). */
export function copyButton(text: string, label = 'Copy'): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'copy', 'data-copy': text }, label);
  button.addEventListener('click', () => {
    navigator.clipboard
      .writeText(text)
      .then(() => {
        button.textContent = 'Copied';
        setTimeout(() => {
          button.textContent = label;
        }, COPIED_MS);
      })
      .catch(() => {
        // No clipboard (an insecure context, a denied permission): select the text instead.
        button.textContent = 'Copy failed: select it';
      });
  });
  return button;
}

/** How long a copy button says "Copied". */
const COPIED_MS = 1500;

/** `sha256:0123456789ab…` for a long hash; the full value goes in the element's tooltip. */
export function shortHash(hash: string | null): HTMLElement | string {
  if (hash === null) return '–';
  const [algo, hex = ''] = hash.includes(':') ? hash.split(':', 2) : ['', hash];
  const short = hex.length > 12 ? `${hex.slice(0, 12)}…` : hex;
  return h(
    'span',
    { class: 'mono hash', title: hash, 'data-hash': hash },
    algo === '' ? short : `${algo}:${short}`,
  );
}
