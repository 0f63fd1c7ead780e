"""Reference codes the generator draws from: conditions, ICD-10, OPCS-4, HRG, specialties, SNOMED CT.

Codes are real (ICD-10 5th edition as used by the NHS, OPCS-4.10, HRG4+ 2022/23 roots, NHS treatment
function codes, SNOMED CT UK) and written without dots; the dirt module adds dots, X padding and
lower case afterwards. ACSC primary diagnoses are taken from the core of the published ACSC lists
(NHS Outcomes Framework 2.3.i chronic ACSC, 3a acute ACSC, and the vaccine-preventable group of
Bardsley et al. 2013 / NHS England CCG Outcomes Indicator Set), choosing only codes that appear in
every common version, so that any reasonable ACSC code list classifies them identically.
Frailty codes are Hospital Frailty Risk Score codes (Gilbert et al. 2018, Lancet, table 1) and
comorbidity codes are Charlson conditions in the Quan et al. 2005 ICD-10 coding.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    """A long-term or frailty condition held by a person.

    Prevalence follows a logistic curve in age through ``prevalence_50`` and ``prevalence_80``
    (England QOF 2022-23 registers and published age-specific prevalence, rounded). ``risk_weight``
    adds to the log emergency-admission rate; ``codes`` are the ICD-10 codes recorded as secondary
    diagnoses when the person is in hospital (one chosen per person and kept).
    """

    name: str
    prevalence_50: float
    prevalence_80: float
    risk_weight: float
    frailty: bool
    codes: tuple[str, ...]
    outpatient_specialty: str  # treatment function code of the clinic that follows it up
    community_team: str | None  # CSDS team type that sees people with it (65+)


CONDITIONS: tuple[Condition, ...] = (
    Condition("hypertension", 0.15, 0.55, 0.05, False, ("I10",), "300", None),
    Condition("diabetes", 0.07, 0.20, 0.20, False, ("E119", "E112", "E113"), "307", "specialist_nursing"),
    Condition("copd", 0.015, 0.08, 0.50, False, ("J449",), "340", "community_matron"),
    Condition("asthma", 0.06, 0.07, 0.15, False, ("J459",), "340", None),
    Condition("heart_failure", 0.004, 0.07, 0.55, False, ("I500", "I509", "I110"), "320", "community_matron"),
    Condition("ischaemic_heart_disease", 0.02, 0.12, 0.20, False, ("I252", "I259", "I251"), "320", None),
    Condition("atrial_fibrillation", 0.008, 0.10, 0.15, False, ("I489", "I480"), "320", None),
    Condition("chronic_kidney_disease", 0.02, 0.20, 0.25, False, ("N183", "N184"), "361", None),
    Condition("cancer", 0.02, 0.08, 0.35, False, ("C349", "C509", "C61", "C189"), "370", "specialist_nursing"),
    Condition("stroke", 0.006, 0.06, 0.30, False, ("I693", "I694", "G819"), "328", "rehabilitation"),
    Condition("dementia", 0.001, 0.08, 0.45, True, ("F03", "F001", "G309", "F019"), "715", "community_matron"),
    Condition("depression", 0.10, 0.10, 0.15, False, ("F329", "F339"), "710", None),
    Condition("parkinsons", 0.0005, 0.012, 0.30, True, ("G20",), "400", "therapy"),
    Condition("falls", 0.005, 0.10, 0.40, True, ("R296", "Z9181"), "430", "rapid_response"),
    Condition("mobility_problems", 0.002, 0.10, 0.35, True, ("R268", "R54", "Z741", "Z993"), "430", "therapy"),
    Condition("incontinence", 0.003, 0.07, 0.20, True, ("R32", "N394"), "101", "district_nursing"),
    Condition("pressure_ulcer", 0.0003, 0.015, 0.40, True, ("L891", "L892"), "330", "district_nursing"),
    Condition("sensory_impairment", 0.003, 0.08, 0.10, True, ("H547", "H919"), "130", None),
    Condition("liver_disease", 0.008, 0.01, 0.40, False, ("K703", "K746"), "306", None),
    Condition("peripheral_vascular_disease", 0.004, 0.03, 0.20, False, ("I739",), "107", "podiatry"),
)
CONDITION_INDEX = {c.name: i for i, c in enumerate(CONDITIONS)}


@dataclass(frozen=True)
class DiagnosisGroup:
    """A group of primary diagnoses for a spell, with its HRG root, specialty and optional procedures."""

    name: str
    codes: tuple[str, ...]
    hrg_root: str
    specialty: str
    acsc: str | None = None  # chronic / acute / vaccine_preventable
    fall: bool = False
    procedures: tuple[str, ...] = ()
    procedure_share: float = 0.0


# Emergency ACSC groups (primary diagnosis). Chronic ones are only drawn for people with the condition.
ACSC_GROUPS: tuple[DiagnosisGroup, ...] = (
    DiagnosisGroup(
        "copd_exacerbation",
        ("J441", "J440", "J449"),
        "DZ65",
        "340",
        "chronic",
        procedures=("E851",),
        procedure_share=0.15,
    ),
    DiagnosisGroup("asthma_attack", ("J459", "J46"), "DZ15", "340", "chronic"),
    DiagnosisGroup("heart_failure", ("I500", "I509", "I110"), "EB03", "320", "chronic"),
    DiagnosisGroup("angina", ("I209", "I200"), "EB13", "320", "chronic", procedures=("K634",), procedure_share=0.2),
    DiagnosisGroup("diabetes_complication", ("E116", "E115", "E111"), "KB02", "307", "chronic"),
    DiagnosisGroup("hypertension", ("I10",), "EB04", "300", "chronic"),
    DiagnosisGroup("urinary_tract_infection", ("N390", "N10"), "LA04", "300", "acute"),
    DiagnosisGroup("cellulitis", ("L031", "L039"), "JD07", "300", "acute"),
    DiagnosisGroup("dehydration_gastroenteritis", ("E86", "K529"), "KC05", "300", "acute"),
    DiagnosisGroup("ent_infection", ("J069", "J039", "H669", "J029"), "CB02", "120", "acute"),
    DiagnosisGroup("influenza_pneumonia", ("J181", "J159", "J13", "J111"), "DZ11", "340", "vaccine_preventable"),
)
# Which condition (by name) unlocks each chronic ACSC group.
ACSC_CONDITION = {
    "copd_exacerbation": "copd",
    "asthma_attack": "asthma",
    "heart_failure": "heart_failure",
    "angina": "ischaemic_heart_disease",
    "diabetes_complication": "diabetes",
    "hypertension": "hypertension",
}

# Emergency non-ACSC groups.
EMERGENCY_GROUPS: tuple[DiagnosisGroup, ...] = (
    DiagnosisGroup(
        "fall_injury",
        ("S720", "S721", "S000", "S060", "S422", "S525", "S328", "S223"),
        "HE11",
        "110",
        fall=True,
        procedures=("W461", "W191"),
        procedure_share=0.3,
    ),
    DiagnosisGroup(
        "other_injury",
        ("S610", "S934", "S019", "T140", "S826"),
        "HE21",
        "110",
        procedures=("W241",),
        procedure_share=0.2,
    ),
    DiagnosisGroup(
        "cardiac",
        ("R074", "R072", "I214", "I219", "R55", "I495"),
        "EB12",
        "320",
        procedures=("K634", "K751"),
        procedure_share=0.15,
    ),
    DiagnosisGroup("respiratory", ("J189", "J22", "J690"), "DZ22", "340"),
    DiagnosisGroup("stroke_tia", ("I639", "I638", "G459"), "AA35", "328", procedures=("U051",), procedure_share=0.5),
    DiagnosisGroup("sepsis", ("A419", "A415"), "WJ06", "300", procedures=("X292",), procedure_share=0.3),
    DiagnosisGroup("renal", ("N179", "E871"), "LA07", "361"),
    DiagnosisGroup("delirium", ("F059", "R410"), "WD11", "430"),
    DiagnosisGroup(
        "gastrointestinal",
        ("K922", "K802", "K566", "R104", "K359", "K297"),
        "FD05",
        "100",
        procedures=("G451", "H011"),
        procedure_share=0.25,
    ),
    DiagnosisGroup("cancer", ("C349", "C787", "C795", "C189"), "DZ17", "370"),
    DiagnosisGroup("symptoms", ("R531", "R509", "R11", "R51"), "WH08", "300"),
    DiagnosisGroup("mental_health", ("F101", "T391", "F419"), "WD22", "710"),
    DiagnosisGroup("paediatric", ("R509", "B349", "R111", "R628"), "PW16", "420"),
)

ELECTIVE_GROUPS: tuple[DiagnosisGroup, ...] = (
    DiagnosisGroup("cataract", ("H251", "H259"), "BZ34", "130", procedures=("C751",), procedure_share=1.0),
    DiagnosisGroup("hip_replacement", ("M169",), "HN12", "110", procedures=("W371",), procedure_share=1.0),
    DiagnosisGroup("knee_replacement", ("M179",), "HN22", "110", procedures=("W401",), procedure_share=1.0),
    DiagnosisGroup("colonoscopy", ("K573", "K625", "D126"), "FE32", "301", procedures=("H229",), procedure_share=1.0),
    DiagnosisGroup("upper_gi_endoscopy", ("K219", "K297"), "FE21", "301", procedures=("G451",), procedure_share=1.0),
    DiagnosisGroup("cystoscopy", ("R31", "N320"), "LB14", "101", procedures=("M459",), procedure_share=1.0),
    DiagnosisGroup("chemotherapy", ("Z511",), "SB97", "370", procedures=("X352",), procedure_share=1.0),
    DiagnosisGroup("cardiac_catheter", ("I209", "I251"), "EY43", "320", procedures=("K634",), procedure_share=1.0),
    DiagnosisGroup("hernia", ("K409", "K429"), "FF62", "100", procedures=("T202",), procedure_share=1.0),
    DiagnosisGroup("gynaecology", ("N939", "N811"), "MA10", "502", procedures=("Q181",), procedure_share=1.0),
    DiagnosisGroup("skin_lesion", ("D229", "L821"), "JC42", "330", procedures=("S062",), procedure_share=1.0),
)

MATERNITY_GROUP = DiagnosisGroup(
    "delivery", ("O800", "O809", "O342", "O820"), "NZ30", "501", procedures=("R241", "R178"), procedure_share=0.9
)

FALL_EXTERNAL_CAUSES: tuple[str, ...] = ("W19", "W18", "W10", "W01", "W06")
# Codes written in place of a valid one by the unknown_code dirt: not in ICD-10.
UNKNOWN_CODES: tuple[str, ...] = ("XX99", "ZZZ9", "R999", "U999", "Q000X9")

ADMISSION_METHODS_EMERGENCY: tuple[tuple[str, float], ...] = (
    # HES ADMIMETH; 21 (via A&E) dominates (HES APC 2022-23 admission method counts, rounded).
    ("21", 0.72),
    ("22", 0.07),
    ("23", 0.01),
    ("24", 0.06),
    ("25", 0.005),
    ("2A", 0.04),
    ("2B", 0.03),
    ("2C", 0.005),
    ("2D", 0.04),
    ("28", 0.02),
)
ADMISSION_METHODS_ELECTIVE: tuple[tuple[str, float], ...] = (("11", 0.55), ("12", 0.35), ("13", 0.10))
ADMISSION_METHODS_MATERNITY: tuple[tuple[str, float], ...] = (("31", 0.35), ("32", 0.65))

# ECDS (Emergency Care Data Set v3) SNOMED CT codes.
EC_ARRIVAL_AMBULANCE = "1048031000000100"  # arrival by emergency road ambulance
EC_ARRIVAL_OTHER: tuple[str, ...] = ("1048061000000105", "1048071000000103", "1048081000000101")
EC_DISCHARGE_HOME = "306689006"  # discharge to home
EC_DISCHARGE_WARD = "306706006"  # discharge to ward (admitted)
EC_DISCHARGE_OTHER: tuple[str, ...] = ("19712007", "183919006")  # transfer to other facility; hospice
# CSDS team types, written as the canonical readable code (docs/data_model.md: team_type).
TEAM_TYPES: tuple[str, ...] = (
    "district_nursing",
    "community_matron",
    "rapid_response",
    "intermediate_care",
    "rehabilitation",
    "therapy",
    "podiatry",
    "specialist_nursing",
    "other",
)
TEAM_DURATION_MINUTES = {  # typical contact length (NHS Benchmarking community services 2022)
    "district_nursing": 30,
    "community_matron": 45,
    "rapid_response": 60,
    "intermediate_care": 45,
    "rehabilitation": 45,
    "therapy": 40,
    "podiatry": 30,
    "specialist_nursing": 40,
    "other": 30,
}

# Background outpatient specialties (not condition specific), with weights.
OUTPATIENT_BACKGROUND: tuple[tuple[str, float], ...] = (
    ("130", 0.14),
    ("110", 0.16),
    ("502", 0.08),
    ("100", 0.10),
    ("330", 0.06),
    ("120", 0.07),
    ("300", 0.07),
    ("301", 0.06),
    ("101", 0.06),
    ("320", 0.06),
    ("410", 0.04),
    ("420", 0.05),
    ("650", 0.05),
)
# HES OPA ATTENDED codes and shares (HES OPA 2022-23: ~7% DNA).
OUTPATIENT_ATTENDANCE: tuple[tuple[str, float], ...] = (
    ("5", 0.805),
    ("6", 0.03),
    ("7", 0.003),
    ("3", 0.07),
    ("2", 0.05),
    ("4", 0.042),
)
