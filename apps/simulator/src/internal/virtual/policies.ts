import { decideStep, type Policy } from '@promha/election/testing';

/**
 * Election policies the deterministic mode can run instead of the real one. `data-time-only` is deliberately
 * broken (as in the election's model tests): it takes over on data time alone, without rule 5's wall-clock
 * guard, so a follower whose clock runs ahead replaces a healthy leader. The checks must catch it.
 */
export const POLICIES: Readonly<Record<string, Policy | undefined>> = {
  default: undefined,
  'data-time-only': (view, part, wallNow, options) => {
    const lease = view.lease === undefined ? undefined : { ...view.lease, leaderLastSeenWall: -Infinity };
    const step = decideStep(lease === undefined ? view : { ...view, lease }, part, wallNow, options);
    return step.kind === 'takeover' ? { ...step, request: { ...step.request, leaseTimeout: 0 } } : step;
  },
};

export type PolicyName = keyof typeof POLICIES;
