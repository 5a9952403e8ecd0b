-- Natural ordering of migration versions and checksum normalisation.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
CREATE EXTENSION feature_x;
RESET client_min_messages;

-- Digit runs compare as numbers, everything else byte-wise.
SELECT v AS version
  FROM unnest(ARRAY['10', '2', '1', '1.10', '1.2', '1.0.3', '1.0.10', '1.0',
					'20240101120000_init', '20231231235959_x', '01', '0',
					'v10', 'v2', '1_b', '1a', 'a']) AS v
 ORDER BY feature_x.version_sort_key(v);

SELECT a, b, feature_x.version_sort_key(a) < feature_x.version_sort_key(b) AS a_sorts_first
  FROM (VALUES ('2', '10'), ('1.2', '1.10'), ('1.0.3', '1.0.10'),
			   ('1.9.9', '1.10'), ('1', '1.0'), ('v9', 'v10'),
			   ('20240101120000_init', '20240101130000_add'),
			   ('99999999999999999999', '100000000000000000000')) AS t(a, b);

-- Same number, different spelling: distinct versions, still a total order.
SELECT feature_x.version_sort_key('01') <> feature_x.version_sort_key('1') AS distinct_keys;

-- The checksum ignores a UTF-8 BOM and CRLF/CR line ends.
SELECT feature_x.migration_checksum(E'create table t ();\n') =
	   feature_x.migration_checksum(E'\xEF\xBB\xBFcreate table t ();\r\n') AS bom_and_crlf_ignored,
	   feature_x.migration_checksum(E'a\rb') = feature_x.migration_checksum(E'a\nb') AS cr_ignored,
	   feature_x.migration_checksum('a b') <> feature_x.migration_checksum('a  b') AS spaces_count;

-- It is plain SHA-256 in hex.
SELECT feature_x.migration_checksum('abc') AS sha256_of_abc,
	   feature_x.migration_checksum('abc') = encode(sha256('abc'), 'hex') AS matches_builtin;
