/*-------------------------------------------------------------------------
 *
 * version.c
 *		Validation and natural ordering of migration versions.
 *
 * Versions are free-form text chosen by the migration tool in use: Flyway's
 * "1.0.3", Prisma's "20240101120000_init", plain "7".  They are ordered
 * "naturally": runs of digits compare as numbers and everything else
 * byte-wise, so 2 < 10 and 1.2 < 1.10.
 *
 * The order is defined by a sort key (a byte string compared with memcmp),
 * which is exposed to SQL as feature_x.version_sort_key() so that views and
 * the C runner order migrations identically.  Key layout, per run:
 *
 *	digits:		0x01, number of significant digits (one byte), the digits
 *	other:		the byte itself (validated versions have no byte < 0x20)
 *
 * followed by 0x00 and the raw version, which only breaks ties between
 * spellings of the same number ("01" and "1") so that the order is total and
 * agrees with text equality.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "ledger.h"

#define DIGIT_RUN_MARKER '\x01'

PG_FUNCTION_INFO_V1(fx_version_sort_key);

/*
 * Refuse versions that cannot be ordered or displayed sensibly: empty or
 * blank ones, ones padded with white space (" 1" next to "1" is a trap),
 * control characters, and absurd lengths.
 */
void
ledger_validate_version(const char *version)
{
	size_t		len = strlen(version);
	size_t		i;
	bool		blank = true;

	if (len > LEDGER_MAX_VERSION_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration version is too long"),
				 errdetail("A version is at most %d bytes; this one has %zu.",
						   LEDGER_MAX_VERSION_LENGTH, len)));

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) version[i];

		if (c < 0x20 || c == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid migration version \"%s\"", version),
					 errdetail("A version must not contain control characters.")));
		if (c != ' ')
			blank = false;
	}

	if (blank)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid migration version \"%s\"", version),
				 errdetail("A version must contain at least one character other than white space.")));

	if (version[0] == ' ' || version[len - 1] == ' ')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid migration version \"%s\"", version),
				 errdetail("A version must not begin or end with white space.")));
}

/*
 * Append the natural-order sort key of version to key.  Never fails, so that
 * it can order rows that reached the ledger without validation (a superuser
 * editing the table); for those the order is merely less meaningful.
 */
void
ledger_version_sort_key(const char *version, StringInfo key)
{
	const char *p = version;

	while (*p)
	{
		if (isdigit((unsigned char) *p))
		{
			const char *start;
			size_t		ndigits;

			/* Leading zeros do not change the number; keep a lone zero. */
			while (*p == '0' && isdigit((unsigned char) p[1]))
				p++;
			start = p;
			while (isdigit((unsigned char) *p))
				p++;
			ndigits = p - start;

			appendStringInfoChar(key, DIGIT_RUN_MARKER);
			appendStringInfoChar(key, (char) Min(ndigits, 255));
			appendBinaryStringInfo(key, start, ndigits);
		}
		else
			appendStringInfoChar(key, *p++);
	}

	appendStringInfoChar(key, '\0');
	appendBinaryStringInfo(key, version, strlen(version));
}

/* Compare two sort keys as bytea does: memcmp, then the shorter first. */
int
ledger_sort_key_cmp(const StringInfoData *a, const StringInfoData *b)
{
	int			cmp = memcmp(a->data, b->data, Min(a->len, b->len));

	if (cmp == 0)
		cmp = (a->len > b->len) - (a->len < b->len);
	return cmp;
}

/* strcmp-style natural comparison of two versions. */
int
ledger_version_cmp(const char *a, const char *b)
{
	StringInfoData ka;
	StringInfoData kb;
	int			cmp;

	initStringInfo(&ka);
	initStringInfo(&kb);
	ledger_version_sort_key(a, &ka);
	ledger_version_sort_key(b, &kb);
	cmp = ledger_sort_key_cmp(&ka, &kb);

	pfree(ka.data);
	pfree(kb.data);
	return cmp;
}

/*
 * feature_x.version_sort_key(version text) RETURNS bytea
 *
 * bytea compares with memcmp and then by length, exactly the order the C
 * runner uses.
 */
Datum
fx_version_sort_key(PG_FUNCTION_ARGS)
{
	char	   *version = text_to_cstring(PG_GETARG_TEXT_PP(0));
	StringInfoData key;
	bytea	   *result;

	initStringInfo(&key);
	ledger_version_sort_key(version, &key);

	result = (bytea *) palloc(VARHDRSZ + key.len);
	SET_VARSIZE(result, VARHDRSZ + key.len);
	memcpy(VARDATA(result), key.data, key.len);

	PG_RETURN_BYTEA_P(result);
}
