-- purpose: the record id of an ASC-CLD event in person_link and everything joined to it (clinical
--          logic, costing): an event is (la_code, event_id), as its contract keys it, because an
--          Event_Reference is unique only within the local authority that sent it. One string, so
--          that person_link's record_id stays a plain VARCHAR for every source.
-- grain: a scalar macro of one event's la_code and event_id.
-- inputs: none.
-- parameters: la_code, event_id (macro arguments).
CREATE OR REPLACE MACRO asc_record_id(la_code, event_id) AS
    coalesce(upper(trim(CAST(la_code AS VARCHAR))), '') || '|' || CAST(event_id AS VARCHAR)
