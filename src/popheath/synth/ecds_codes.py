"""SNOMED CT codes the generator writes into ECDS: ETOS diagnoses, chief complaints, acuity, follow-up codes.

Every diagnosis code is in ``ecds_etos_diagnoses.csv`` and every chief complaint in
``ecds_etos_chief_complaints.csv`` (rows copied unchanged from public copies of the ECDS ETOS
reference sets; sources in ``ecds_etos_sources.yaml``); tests/synth checks both. Which diagnosis
an attendance gets, and which chief complaint goes with it, are the generator's choices (a
plausible pairing, not a published mapping). Falls chief complaints are the shipped clinical
code list (src/popheath/clinical/codelists/ecds_chief_complaint_falls.csv).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
DIAGNOSES_FILE = HERE / "ecds_etos_diagnoses.csv"
CHIEF_COMPLAINTS_FILE = HERE / "ecds_etos_chief_complaints.csv"

# ETOS chief complaints (SNOMED_Code of ref_complaint.csv).
CHEST_PAIN, PALPITATIONS, SYNCOPE, BREATHLESS = "29857009", "80313002", "271594007", "267036007"
ABDOMINAL_PAIN, VOMITING, HEADACHE, CONFUSION = "21522001", "422400008", "25064002", "40917007"
LIMB_WEAKNESS, SEIZURE, DIZZINESS, HEAD_INJURY = "713514005", "91175000", "404640003", "82271004"
ARM_INJURY, LEG_INJURY, CHEST_INJURY, BACKACHE = "127278005", "127279002", "262525000", "161891005"
RASH, SKIN_PROBLEM, DYSURIA, SORE_THROAT, COUGH = "271807003", "297982009", "49650001", "267102003", "49727002"
EARACHE, FEVER, WEAKNESS, ANXIETY, SUBSTANCE = "162356005", "386661006", "13791008", "48694002", "66214007"
HYPERGLYCAEMIA, HYPOGLYCAEMIA, FLANK_PAIN, WOUND_CARE = "80394007", "302866003", "247355005", "225358003"

# Falls / unsteady on feet (the shipped falls code list): the group code and two child terms, with weights.
FALLS_CHIEF_COMPLAINTS: tuple[tuple[str, float], ...] = (("394616008", 0.6), ("161898004", 0.35), ("249990003", 0.05))

# Diagnosis (ETOS) of an attendance admitted for each emergency spell group, and its chief complaint.
GROUP_DIAGNOSIS: dict[str, tuple[str, str]] = {
    "copd_exacerbation": ("13645005", BREATHLESS),
    "asthma_attack": ("195967001", BREATHLESS),
    "heart_failure": ("42343007", BREATHLESS),
    "angina": ("4557003", CHEST_PAIN),
    "diabetes_complication": ("80394007", HYPERGLYCAEMIA),
    "hypertension": ("38341003", HEADACHE),
    "urinary_tract_infection": ("68566005", DYSURIA),
    "cellulitis": ("128045006", SKIN_PROBLEM),
    "dehydration_gastroenteritis": ("12463005", VOMITING),
    "ent_infection": ("90176007", SORE_THROAT),
    "influenza_pneumonia": ("233604007", COUGH),
    "fall_injury": ("359817006", LEG_INJURY),  # chief complaint: a falls code (see FALLS_CHIEF_COMPLAINTS)
    "other_injury": ("111640008", ARM_INJURY),
    "cardiac": ("394659003", CHEST_PAIN),
    "respiratory": ("50417007", COUGH),
    "stroke_tia": ("230690007", LIMB_WEAKNESS),
    "sepsis": ("91302008", FEVER),
    "renal": ("14669001", WEAKNESS),
    "delirium": ("2776000", CONFUSION),
    "gastrointestinal": ("81060008", ABDOMINAL_PAIN),
    "cancer": ("372087000", WEAKNESS),
    "symptoms": ("281900007", WEAKNESS),
    "mental_health": ("25702006", SUBSTANCE),
    "paediatric": ("54150009", FEVER),
}
# Any other group (never admitted through A&E here): no abnormality detected.
DEFAULT_DIAGNOSIS = ("281900007", WEAKNESS)

# Diagnoses of attendances not admitted (drawn uniformly), with their chief complaint.
SENT_HOME_DIAGNOSES: tuple[tuple[str, str], ...] = (
    ("283025007", HEAD_INJURY),  # superficial injury of head
    ("127302008", HEAD_INJURY),  # minor traumatic brain injury, no loss of consciousness
    ("274192001", ARM_INJURY),  # bruise / contusion / abrasion: wrist
    ("111640008", ARM_INJURY),  # closed fracture: radius
    ("42188001", LEG_INJURY),  # closed fracture: ankle
    ("283040009", LEG_INJURY),  # bruise / contusion / abrasion: knee
    ("60667009", CHEST_INJURY),  # closed fracture: rib
    ("398665005", SYNCOPE),  # vasovagal syncope
    ("235595009", CHEST_PAIN),  # gastro-oesophageal reflux
    ("49436004", PALPITATIONS),  # atrial fibrillation / flutter
    ("10743008", ABDOMINAL_PAIN),  # irritable bowel syndrome
    ("14760008", ABDOMINAL_PAIN),  # constipation
    ("12463005", VOMITING),  # infectious gastroenteritis
    ("68566005", DYSURIA),  # urinary tract infection
    ("128045006", SKIN_PROBLEM),  # cellulitis
    ("54150009", SORE_THROAT),  # upper respiratory tract infection
    ("50417007", COUGH),  # lower respiratory tract infection
    ("195967001", BREATHLESS),  # asthma
    ("13645005", BREATHLESS),  # chronic obstructive pulmonary disease
    ("37796009", HEADACHE),  # migraine
    ("398057008", HEADACHE),  # tension headache
    ("352818000", SEIZURE),  # epilepsy: generalised
    ("111541001", DIZZINESS),  # benign paroxysmal vertigo
    ("65363002", EARACHE),  # otitis media
    ("126485001", RASH),  # urticaria
    ("23056005", BACKACHE),  # sciatica
    ("197480006", ANXIETY),  # anxiety disorder
    ("25702006", SUBSTANCE),  # alcohol intoxication
    ("31054009", FLANK_PAIN),  # renal / ureteric colic due to stone
    ("302866003", HYPOGLYCAEMIA),  # hypoglycaemia
    ("281900007", WEAKNESS),  # no abnormality detected
)
# The injuries among them: in people 65+ most are falls (chief complaint from the falls list).
INJURY_DIAGNOSES = frozenset(code for code, _ in SENT_HOME_DIAGNOSES[:7])

# Second diagnoses (long-term conditions recorded alongside the primary one).
SECOND_DIAGNOSES: tuple[str, ...] = ("44054006", "13645005", "38341003", "52448006", "49436004", "42343007")

# Planned follow-up attendances (category 4): the review done, with wound care as chief complaint.
FOLLOW_UP_DIAGNOSES: tuple[str, ...] = ("180300007", "302436000", "824091000000105")  # plaster, dressing, sutures

# ECDS acuity (EC_Acuity_SNOMED_CT), as The-Strategy-Unit/nhp_data raw_data/ecds.py lists them
# (national_formats.md 1.2), with the generator's shares for admitted and sent-home attendances.
ACUITY_IMMEDIATE, ACUITY_VERY_URGENT, ACUITY_URGENT = "1064891000000107", "1064911000000105", "1064901000000108"
ACUITY_STANDARD, ACUITY_NON_URGENT = "1077241000000103", "1077251000000100"
ACUITY_ADMITTED: tuple[tuple[str, float], ...] = (
    (ACUITY_IMMEDIATE, 0.05),
    (ACUITY_VERY_URGENT, 0.30),
    (ACUITY_URGENT, 0.45),
    (ACUITY_STANDARD, 0.18),
    (ACUITY_NON_URGENT, 0.02),
)
ACUITY_SENT_HOME: tuple[tuple[str, float], ...] = (
    (ACUITY_IMMEDIATE, 0.005),
    (ACUITY_VERY_URGENT, 0.045),
    (ACUITY_URGENT, 0.30),
    (ACUITY_STANDARD, 0.50),
    (ACUITY_NON_URGENT, 0.15),
)


def diagnosis_codes() -> set[str]:
    """Every ETOS diagnosis code the generator can write."""
    codes = {code for code, _ in GROUP_DIAGNOSIS.values()} | {code for code, _ in SENT_HOME_DIAGNOSES}
    return codes | {DEFAULT_DIAGNOSIS[0], *SECOND_DIAGNOSES, *FOLLOW_UP_DIAGNOSES}


def chief_complaint_codes() -> set[str]:
    """Every ETOS chief complaint code the generator can write (falls codes included)."""
    codes = {c for _, c in GROUP_DIAGNOSIS.values()} | {c for _, c in SENT_HOME_DIAGNOSES}
    return codes | {DEFAULT_DIAGNOSIS[1], WOUND_CARE} | {code for code, _ in FALLS_CHIEF_COMPLAINTS}
