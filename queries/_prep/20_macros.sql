/*
# Scalar macros every detector may call. Expression macros only (one expression, no
# tables but the prep's), so another engine can provide the same function by rewriting
# the call (see queries/README.md).
params: {}
*/

-- is_ours(addr): the address is one of ours (see flow_our_addrs in 10_flow.sql). Defined for the
-- addresses of the flow records the run reads (look-back included).
CREATE OR REPLACE MACRO is_ours(addr) AS addr IN (SELECT ip FROM flow_our_addrs);

-- ipv4_int(addr): a dotted IPv4 address as an integer (NULL when it is not one).
CREATE OR REPLACE MACRO ipv4_int(addr) AS
    TRY_CAST(split_part(addr, '.', 1) AS BIGINT) * 16777216 + TRY_CAST(split_part(addr, '.', 2) AS BIGINT) * 65536
    + TRY_CAST(split_part(addr, '.', 3) AS BIGINT) * 256 + TRY_CAST(split_part(addr, '.', 4) AS BIGINT);

-- ipv6_groups(addr): the eight 16-bit groups of an IPv6 address, '::' expanded, lower case,
-- leading zeros dropped ('2600:1F18::0a' -> ['2600', '1f18', '0', ..., 'a']).
CREATE OR REPLACE MACRO ipv6_groups(addr) AS
    string_split(regexp_replace(lower(array_to_string(
        CASE WHEN contains(addr, '::') THEN list_concat(
                 CASE WHEN split_part(addr, '::', 1) = '' THEN CAST([] AS VARCHAR[])
                      ELSE string_split(split_part(addr, '::', 1), ':') END,
                 list_slice(['0', '0', '0', '0', '0', '0', '0', '0'], 1,
                            8 - len(string_split(trim(replace(addr, '::', ':'), ':'), ':'))),
                 CASE WHEN split_part(addr, '::', 2) = '' THEN CAST([] AS VARCHAR[])
                      ELSE string_split(split_part(addr, '::', 2), ':') END)
             ELSE string_split(addr, ':') END, ':')),
        '(^|:)0+([0-9a-f])', '\1\2', 'g'), ':');

-- net_of(addr, bits): the network of an address as CIDR text: IPv4 any prefix length
-- ('10.0.1.7', 24 -> '10.0.1.0/24'), IPv6 a multiple of 16 below 128 ('2600:1f18::5', 64 ->
-- '2600:1f18:0:0::/64'). NULL for what is not an address.
CREATE OR REPLACE MACRO net_of(addr, bits) AS
    CASE WHEN NOT contains(addr, ':') THEN
        (ipv4_int(addr) >> (32 - least(bits, 32)) << (32 - least(bits, 32))) // 16777216 || '.'
        || ((ipv4_int(addr) >> (32 - least(bits, 32)) << (32 - least(bits, 32))) // 65536) % 256 || '.'
        || ((ipv4_int(addr) >> (32 - least(bits, 32)) << (32 - least(bits, 32))) // 256) % 256 || '.'
        || (ipv4_int(addr) >> (32 - least(bits, 32)) << (32 - least(bits, 32))) % 256 || '/' || bits
    ELSE array_to_string(list_slice(ipv6_groups(addr), 1, bits // 16), ':') || '::/' || bits END;

-- usual_net(addr): the /24 (IPv4) or /64 (IPv6) an address is in: one subnet in the usual
-- VPC layouts, the place to name when the flow logs (v2) carry no subnet_id.
CREATE OR REPLACE MACRO usual_net(addr) AS net_of(addr, CASE WHEN contains(addr, ':') THEN 64 ELSE 24 END);
