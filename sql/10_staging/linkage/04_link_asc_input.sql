-- purpose: records to link probabilistically, one per ASC client (client_key): every client none of
--          whose events carries a token, plus a fixed sample of clients whose single token is in the
--          spine, token hidden from the model (the "holdout", used to measure link accuracy on real
--          data; held out as whole clients, as tokens go missing in practice), plus up to
--          $training_max_records other tokened clients (role 'train', never scored) whose known true
--          pair measures the m probabilities.
--          Each quasi-identifier is the value most of the client's events carry (ties: the latest
--          event's), which outvotes a keying error on one event; event_start is the client's latest
--          event (a candidate who died well before it cannot be the client); date_of_death is the
--          latest the LA recorded, in death_asc (death_spine is the spine's, NULL here) so that the
--          date-of-death comparison can tell the two sources apart.
--          Activity the spine can be checked against: first_event and last_event (the client's first and
--          latest event starts, against GP registration) and service_starts (distinct start dates of the
--          client's service events, against hospital discharges: reablement and care packages start on
--          the day of or the day after discharge). Spine-side columns (after_discharge_days,
--          registered_from, registered_to, previous_lsoa_codes) are NULL here.
-- grain: one row per client record (unique_id = client_key, 'holdout:' || client_key or 'train:' || client_key);
--        role is 'link', 'holdout' or 'train'.
-- inputs: link_asc_events, link_asc_clients, stg_population
--        asc_client is TRUE on every row (compared with the spine's flag of known clients).
-- parameters: $holdout_max_records (0 = no holdout), $holdout_fraction (share of tokened clients at most),
--             $training_max_records
CREATE OR REPLACE TABLE link_asc_input AS
WITH spine AS (
    SELECT DISTINCT CAST(person_id AS VARCHAR) AS person_id FROM stg_population WHERE person_id IS NOT NULL
),
holdout_ranked AS (
    SELECT
        c.client_key,
        c.token,
        row_number() OVER (ORDER BY hash(c.client_key), c.client_key) AS holdout_rank,
        count(*) OVER () AS tokened_clients
    FROM link_asc_clients AS c
    JOIN spine AS s ON s.person_id = c.token
    WHERE c.token_status = 'token'
),
holdout_size AS (
    SELECT least($holdout_max_records, floor($holdout_fraction * max(tokened_clients))) AS n FROM holdout_ranked
),
chosen AS (
    SELECT client_key, client_key AS unique_id, 'link' AS role, NULL::VARCHAR AS holdout_person_id
    FROM link_asc_clients
    WHERE token_status = 'no_token'
    UNION ALL
    SELECT client_key, 'holdout:' || client_key, 'holdout', token
    FROM holdout_ranked
    WHERE holdout_rank <= (SELECT n FROM holdout_size)
    UNION ALL
    SELECT client_key, 'train:' || client_key, 'train', token
    FROM holdout_ranked
    WHERE holdout_rank > (SELECT n FROM holdout_size)
        AND holdout_rank <= (SELECT n FROM holdout_size) + $training_max_records
),
long AS (
    UNPIVOT (
        SELECT
            e.client_key, e.event_start, e.record_id,
            CAST(e.birth_year AS VARCHAR) AS birth_year, CAST(e.birth_month AS VARCHAR) AS birth_month,
            e.sex, e.lsoa_code, e.practice_code, e.ethnic_category
        FROM link_asc_events AS e
        WHERE e.client_key IN (SELECT client_key FROM chosen)
    )
    ON birth_year, birth_month, sex, lsoa_code, practice_code, ethnic_category
    INTO NAME field VALUE value
),
votes AS (
    SELECT client_key, field, value, count(*) AS n, max(event_start) AS latest, max(record_id) AS last_id
    FROM long
    GROUP BY ALL
),
modal AS (
    SELECT client_key, field, arg_max(value, (n, latest, last_id, value)) AS value
    FROM votes
    GROUP BY ALL
),
fields AS (
    SELECT
        client_key,
        CAST(max(value) FILTER (WHERE field = 'birth_year') AS INTEGER) AS birth_year,
        CAST(max(value) FILTER (WHERE field = 'birth_month') AS INTEGER) AS birth_month,
        max(value) FILTER (WHERE field = 'sex') AS sex,
        max(value) FILTER (WHERE field = 'lsoa_code') AS lsoa_code,
        max(value) FILTER (WHERE field = 'practice_code') AS practice_code,
        max(value) FILTER (WHERE field = 'ethnic_category') AS ethnic_category
    FROM modal
    GROUP BY client_key
),
dates AS (
    SELECT
        client_key, bool_or(has_client_id) AS has_client_id, any_value(la_code) AS la_code,
        max(event_start) AS event_start, min(event_start) AS first_event, max(date_of_death) AS death_asc,
        CASE WHEN count(*) = 1 THEN min(record_id) END AS record_id,
        list_sort(list_distinct(list(event_start) FILTER (WHERE event_type = 'service' AND event_start IS NOT NULL)))
            AS service_starts
    FROM link_asc_events
    WHERE client_key IN (SELECT client_key FROM chosen)
    GROUP BY client_key
)
SELECT
    c.unique_id,
    -- the event itself (its record_id) when the record is a single event without a client id, else NULL
    CASE WHEN c.client_key LIKE 'event|%' THEN d.record_id END AS record_id,
    c.client_key,
    c.role,
    c.role = 'holdout' AS is_holdout,
    c.holdout_person_id,
    -- records that take a spine person from each other: LA clients of the same LA (ASC-CLD client ids
    -- are one per person within an LA) and of the same group (holdout records measure the model as if
    -- untraced, so they compete only with each other); an event without a client id may be any
    -- client's, so it has no group
    CASE WHEN d.has_client_id THEN c.role || '|' || coalesce(d.la_code, '') END AS one_to_one_group,
    f.birth_year,
    f.birth_month,
    f.sex,
    f.lsoa_code,
    NULL::VARCHAR[] AS previous_lsoa_codes,
    f.practice_code,
    f.ethnic_category,
    d.death_asc,
    NULL::DATE AS death_spine,
    d.event_start,
    TRUE AS asc_client,
    d.first_event,
    d.event_start AS last_event,
    -- an empty list is no service start: NULL, so the comparison treats it as missing
    CASE WHEN len(d.service_starts) > 0 THEN d.service_starts END AS service_starts,
    NULL::DATE[] AS after_discharge_days,
    NULL::DATE AS registered_from,
    NULL::DATE AS registered_to
FROM chosen AS c
JOIN dates AS d USING (client_key)
LEFT JOIN fields AS f USING (client_key)
