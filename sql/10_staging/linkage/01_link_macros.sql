-- purpose: how a quasi-identifier is normalised before Splink compares it, written once so the
--          ASC side (link_asc_events) and the spine (link_spine_input) always agree:
--          month outside 1-12, sex other than M/F (0, 9, U), blank codes, and ethnic category
--          Z (not stated) / 99 (not known) become missing.
-- grain: none (temporary macros for this connection).
-- inputs: none
-- parameters: none
CREATE OR REPLACE TEMP MACRO link_month(month) AS (
    CASE WHEN month BETWEEN 1 AND 12 THEN CAST(month AS INTEGER) END
);
CREATE OR REPLACE TEMP MACRO link_sex(sex) AS (
    CASE WHEN upper(sex) IN ('M', 'F') THEN upper(sex) END
);
CREATE OR REPLACE TEMP MACRO link_code(code) AS (
    NULLIF(upper(trim(code)), '')
);
CREATE OR REPLACE TEMP MACRO link_ethnic(category) AS (
    CASE WHEN upper(trim(CAST(category AS VARCHAR))) NOT IN ('', 'Z', '99')
        THEN upper(trim(CAST(category AS VARCHAR))) END
);
