/**
 * Topics of the coordinator's own notices on `/v1/events` (beside the task events of the
 * protocol's EVENTS table): service levels reach operators (admin keys), a tenant's breakers reach
 * that tenant and operators.
 */
export const NOTICES = {
  sloViolated: 'flock:slo:v1:violated',
  sloRecovered: 'flock:slo:v1:recovered',
  breakerOpened: 'flock:breaker:v1:opened',
  breakerClosed: 'flock:breaker:v1:closed',
} as const;
