// How the dashboard shows verification (issue #9): a chip per verified task, the facts on the
// task page, a volunteer's trust status, and the submit forms' "Verify results" control. The
// wording comes from @flock/client, so the dashboard and the CLI say the same.
import { type TaskVerification, type TrustStatus, verificationText } from '@flock/client';
import type { VerificationPolicy } from '@flock/protocol';
import { h } from './dom.ts';
import { verificationPolicy } from './verification-policy.ts';

const CHIP_TEXT: Record<TaskVerification['state'], string> = {
  accepted: 'verified',
  pending: 'verifying',
  failed: 'unverified',
};

/** `verified` / `verifying` / `unverified` chip; its title is the full line. */
export function verificationChip(v: TaskVerification): HTMLElement {
  return h(
    'span',
    { class: `chip verify-${v.state}`, 'data-verification': v.state, title: verificationText(v) },
    CHIP_TEXT[v.state],
  );
}

/**
 * The task page's Verification fact: the chip, the line the CLI prints, and the workers that ran
 * a copy (only the first copy is an attempt in the table below).
 */
export function verificationFact(v: TaskVerification): HTMLElement {
  return h(
    'span',
    {},
    verificationChip(v),
    ' ',
    h('span', { 'data-verification-text': '' }, verificationText(v)),
    v.workers.length === 0
      ? null
      : h(
          'div',
          { class: 'muted mono', 'data-verification-workers': '' },
          `copies on ${v.workers.join(', ')}`,
        ),
  );
}

const TRUST_TITLE: Record<TrustStatus, string> = {
  verified: 'passed a known-answer check: its results count toward quorums',
  new: 'not checked yet: its first verified task is a known-answer check',
  quarantined: 'failed a known-answer check: its results count for nothing',
  unchecked: 'this coordinator runs no known-answer checks: its results count when a quorum agrees',
};

export function trustChip(status: TrustStatus): HTMLElement {
  return h(
    'span',
    { class: `chip trust-${status}`, 'data-trust': status, title: TRUST_TITLE[status] },
    status,
  );
}

/** The "Verify results" fieldset of the submit forms; `read` throws on a malformed number. */
export function verificationFields(): {
  element: HTMLElement;
  read: () => VerificationPolicy | undefined;
} {
  const enabled = h('input', { type: 'checkbox', name: 'verify' });
  const mode = h(
    'select',
    { name: 'verify-mode' },
    h('option', { value: 'fixed' }, 'replicas + quorum'),
    h('option', { value: 'adaptive' }, 'adaptive'),
  );
  const replicas = h('input', { type: 'number', name: 'verify-replicas', value: 2, min: 1, max: 16 });
  const quorum = h('input', { type: 'number', name: 'verify-quorum', value: 2, min: 1, max: 16 });
  const comparator = h(
    'select',
    { name: 'verify-comparator' },
    h('option', { value: 'exact' }, 'exact bytes'),
    h('option', { value: 'tolerance' }, 'f32 within tolerance'),
  );
  const sync = (): void => {
    mode.disabled = !enabled.checked;
    comparator.disabled = !enabled.checked;
    replicas.disabled = !enabled.checked || mode.value === 'adaptive';
    quorum.disabled = replicas.disabled;
  };
  enabled.addEventListener('change', sync);
  mode.addEventListener('change', sync);
  sync();
  const element = h(
    'fieldset',
    { class: 'row', id: 'verify-fields' },
    h('legend', {}, 'Verification'),
    h('label', { class: 'check' }, enabled, ' Verify results'),
    h(
      'label',
      { class: 'field' },
      h('span', {}, 'mode'),
      mode,
      h('small', {}, 'adaptive: once on a trusted volunteer, else 2 must agree'),
    ),
    h(
      'label',
      { class: 'field' },
      h('span', {}, 'replicas'),
      replicas,
      h('small', {}, 'copies, each on a distinct volunteer'),
    ),
    h('label', { class: 'field' }, h('span', {}, 'quorum'), quorum, h('small', {}, 'agreeing copies needed')),
    h('label', { class: 'field' }, h('span', {}, 'compare'), comparator),
  );
  return {
    element,
    read: () =>
      verificationPolicy({
        enabled: enabled.checked,
        mode: mode.value === 'adaptive' ? 'adaptive' : 'fixed',
        replicas: replicas.value,
        quorum: quorum.value,
        comparator: comparator.value === 'tolerance' ? 'tolerance' : 'exact',
      }),
  };
}
