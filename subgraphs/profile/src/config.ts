// The profile process's settings: every service's, and none of its own yet. Declared here, a setting of
// profile's own reaches the README's table (tools reads this, as it reads the other services').
import { serviceSettings } from '@fedstack/service-kit';

/** Every setting the profile process reads, for the README's table. */
export function profileSettings(production = false) {
  return serviceSettings('profile', production);
}
