import { countedAddress } from './throttle';

describe('the address a sign-in is counted against', () => {
  it.each([
    ['an IPv4 address', '198.51.100.7', '198.51.100.7'],
    ['an IPv4 address mapped into IPv6', '::ffff:198.51.100.7', '198.51.100.7'],
    ['an IPv6 address, by its /64', '2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
    ['another address of the same /64', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['the next /64', '2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['no address at all', 'unknown address', 'unknown address'],
  ])('counts %s as one', (_label, address, counted) => {
    expect(countedAddress(address)).toBe(counted);
  });
});
