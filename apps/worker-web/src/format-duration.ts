/**
 * A duration as the volunteer page shows it (compute time, credit): tenths of a second below a
 * minute (`12.3 s`), whole seconds below an hour (`2 min 5 s`), whole minutes above (`1 h 4 min`).
 * `ms` is milliseconds; negative or non-finite values show as `0.0 s`.
 */
export function formatDuration(ms: number): string {
  const s = Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
  // Rounded first, so 59.96 s reads "1 min 0 s", never "60.0 s" or "0 min 60 s".
  if (Math.round(s * 10) < 600) return `${(Math.round(s * 10) / 10).toFixed(1)} s`;
  const seconds = Math.round(s);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  const minutes = Math.round(s / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
