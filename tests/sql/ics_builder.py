"""A tiny hand-made ICS for known-answer SQL tests: canonical staging tables, person and person_link.

Every record is added with explicit dates; unspecified fields take harmless defaults. ``build``
loads the real code lists, runs ``sql/20_clinical`` and then ``sql/30_features`` at an as-of date.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from popheath import config, db
from popheath.clinical import codelists
from popheath.clinical import feature_tables as features

SCHEMAS = {
    "person": """person_key VARCHAR, person_id VARCHAR, birth_year INTEGER, birth_month INTEGER, sex VARCHAR,
        ethnic_category VARCHAR, lsoa_code VARCHAR, imd_decile INTEGER, practice_code VARCHAR, pcn_code VARCHAR,
        place VARCHAR, registration_start DATE, registration_end DATE, date_of_death DATE, care_home BOOLEAN,
        type1_opt_out BOOLEAN, national_data_opt_out BOOLEAN, in_population BOOLEAN""",
    "person_link": """source VARCHAR, record_id VARCHAR, person_key VARCHAR, method VARCHAR,
        match_probability DOUBLE, out_of_area BOOLEAN, out_of_ics_provider BOOLEAN""",
    "stg_apc": """episode_id VARCHAR, person_id VARCHAR, spell_id VARCHAR, provider_code VARCHAR,
        admission_date DATE, discharge_date DATE, episode_start DATE, episode_end DATE, episode_order INTEGER,
        admission_method VARCHAR, admission_source VARCHAR, discharge_destination VARCHAR,
        discharge_method VARCHAR, diagnoses VARCHAR[], procedures VARCHAR[], hrg_code VARCHAR,
        treatment_specialty VARCHAR, patient_classification VARCHAR, episode_status VARCHAR""",
    "stg_ecds": """attendance_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, arrival_date DATE,
        arrival_time VARCHAR, department_type VARCHAR, arrival_mode VARCHAR, discharge_destination VARCHAR,
        diagnosis_snomed VARCHAR, diagnosis_icd10 VARCHAR, diagnosis_ae VARCHAR, attendance_category VARCHAR,
        chief_complaint_snomed VARCHAR, acuity_snomed VARCHAR, diagnoses_snomed VARCHAR[], duplicate BOOLEAN""",
    "stg_opa": """appointment_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, appointment_date DATE,
        attendance_status VARCHAR, attended BOOLEAN, did_not_attend BOOLEAN, first_attendance VARCHAR,
        treatment_specialty VARCHAR, hrg_code VARCHAR""",
    "stg_csds": """contact_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, contact_date DATE,
        team_type VARCHAR, duration_minutes INTEGER, attended BOOLEAN""",
    "stg_asc": """event_id VARCHAR, person_id VARCHAR, birth_year INTEGER, birth_month INTEGER, sex VARCHAR,
        lsoa_code VARCHAR, practice_code VARCHAR, la_code VARCHAR, event_type VARCHAR, service_type VARCHAR,
        event_start DATE, event_end DATE, planned_units_per_week DOUBLE, unit_cost DOUBLE, cost_unit VARCHAR,
        client_type VARCHAR, unpaid_carer BOOLEAN, long_term_support BOOLEAN""",
}
SOURCE_OF = {"stg_apc": "apc", "stg_ecds": "ecds", "stg_opa": "opa", "stg_csds": "csds", "stg_asc": "asc"}
ID_OF = {
    "stg_apc": "episode_id",
    "stg_ecds": "attendance_id",
    "stg_opa": "appointment_id",
    "stg_csds": "contact_id",
    "stg_asc": "event_id",
}


def settings_for(path: Path, **overrides: Any) -> config.Settings:
    """Default settings writing to ``path``, with dotted overrides (``{"cohort.min_age": 70}``)."""
    settings = config.with_overrides(config.Settings(), **{"paths.warehouse": path})
    return config.with_overrides(settings, **overrides)


@dataclasses.dataclass
class Ics:
    """Records of a tiny ICS, written to DuckDB by :meth:`write`."""

    rows: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=lambda: {t: [] for t in SCHEMAS})
    _ids: Any = dataclasses.field(default_factory=lambda: itertools.count(1))

    def person(self, key: str, birth_year: int = 1940, **fields: Any) -> str:
        row = {
            "person_key": key,
            "person_id": key,
            "birth_year": birth_year,
            "birth_month": 6,
            "sex": "F",
            "ethnic_category": "A",
            "imd_decile": 3,
            "practice_code": "P1",
            "pcn_code": "PCN1",
            "place": "North",
            "registration_start": date(2000, 1, 1),
            "care_home": False,
            "type1_opt_out": False,
            "national_data_opt_out": False,
            "in_population": True,
        }
        row.update(fields)
        self.rows["person"].append(row)
        return key

    def _record(self, table: str, person: str | None, fields: dict[str, Any], link: dict[str, Any]) -> str:
        record_id = str(fields.pop(ID_OF[table], f"{SOURCE_OF[table]}-{next(self._ids)}"))
        row = {ID_OF[table]: record_id, "person_id": person, **fields}
        self.rows[table].append(row)
        # person_link's id of an ASC event is la_code|event_id (sql/10_staging/linked/00_asc_record_id.sql)
        linked_id = f"{str(row.get('la_code') or '').strip().upper()}|{record_id}" if table == "stg_asc" else record_id
        self.rows["person_link"].append(
            {
                "source": SOURCE_OF[table],
                "record_id": linked_id,
                "person_key": person,
                "method": "deterministic",
                "match_probability": 1.0,
                "out_of_area": False,
                "out_of_ics_provider": False,
                **link,
            }
        )
        return record_id

    def episode(
        self,
        person: str,
        admitted: date,
        discharged: date | None,
        diagnoses: list[str | None] | None = None,
        link: dict[str, Any] | None = None,
        **fields: Any,
    ) -> str:
        """One APC episode; by default a single-episode spell (start = admission, end = discharge)."""
        row = {
            "spell_id": fields.pop("spell_id", f"S{len(self.rows['stg_apc']) + 1}"),
            "provider_code": "RAA",
            "admission_date": admitted,
            "discharge_date": discharged,
            "episode_start": admitted,
            "episode_end": discharged,
            "episode_order": 1,
            "admission_method": "21",
            "admission_source": "19",
            "discharge_destination": "19",
            "discharge_method": "1",
            "diagnoses": diagnoses if diagnoses is not None else ["R69"],
            "procedures": [],
            "treatment_specialty": "300",
        }
        row.update(fields)
        return self._record("stg_apc", person, row, link or {})

    def ed(self, person: str, arrived: date, **fields: Any) -> str:
        return self._record("stg_ecds", person, {"arrival_date": arrived, "department_type": "01", **fields}, {})

    def outpatient(self, person: str, on: date, attended: bool = True, **fields: Any) -> str:
        row = {"appointment_date": on, "attended": attended, "did_not_attend": not attended, **fields}
        return self._record("stg_opa", person, row, {})

    def community(self, person: str, on: date, team_type: str = "district_nursing", **fields: Any) -> str:
        row = {"contact_date": on, "team_type": team_type, "duration_minutes": 30, "attended": True, **fields}
        return self._record("stg_csds", person, row, {})

    def social_care(
        self, person: str | None, start: date, end: date | None, service_type: str = "home_care", **fields: Any
    ) -> str:
        link = fields.pop("link", {})
        row = {
            "event_type": "service",
            "service_type": service_type,
            "event_start": start,
            "event_end": end,
            "planned_units_per_week": 7.0,
            "unit_cost": 20.0,
            "cost_unit": "hourly",
            **fields,
        }
        return self._record("stg_asc", person, row, link)

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create every input table (replacing it) and insert the records in one statement per table."""
        for table, schema in SCHEMAS.items():
            con.execute(f"CREATE OR REPLACE TABLE {table} ({schema})")
            columns = [c.split()[0] for c in schema.replace("\n", " ").split(",")]
            if not self.rows[table]:
                continue
            for row in self.rows[table]:
                unknown = set(row) - set(columns)
                if unknown:
                    raise KeyError(f"{table}: unknown column(s) {unknown}")
            frame = pl.DataFrame(
                [{column: row.get(column) for column in columns} for row in self.rows[table]],
                infer_schema_length=None,
            )
            con.register("_rows", frame.to_arrow())
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
            con.unregister("_rows")


_REF_CACHE: dict[str, Any] = {}


def load_refs(con: duckdb.DuckDBPyConnection) -> None:
    """The real ``ref_*`` tables (``codelists.load_into``), read from disk once per test session."""
    if not _REF_CACHE:
        scratch = duckdb.connect()
        for table in codelists.load_into(scratch):
            _REF_CACHE[table] = scratch.sql(f"SELECT * FROM {table}").to_arrow_table()
        scratch.close()
    for table, arrow in _REF_CACHE.items():
        con.register("_ref", arrow)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _ref")
        con.unregister("_ref")


def build(
    ics: Ics, tmp_path: Path, as_of: date, settings: config.Settings | None = None, name: str = ":memory:"
) -> duckdb.DuckDBPyConnection:
    """Write the ICS, load code lists, run both SQL layers at ``as_of``; return the open connection."""
    settings = settings or settings_for(tmp_path / "w.duckdb")
    con = db.connect(settings, path=Path(name) if name == ":memory:" else tmp_path / name)
    ics.write(con)
    load_refs(con)
    features.build_clinical(con, settings)
    features.build_as_of(con, settings, as_of)
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The single row of a query as a dict (fails unless exactly one row)."""
    cursor = con.execute(sql, params or {})
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1, f"expected one row, got {len(rows)}: {rows}"
    return dict(zip(names, rows[0], strict=True))


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """All rows of a query as dicts."""
    cursor = con.execute(sql, params or {})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
