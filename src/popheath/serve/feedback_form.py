"""The feedback form and API body: what a coordinator typed, turned into a checked action, or told what to fix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, Field

from popheath.errors import InputError
from popheath.lists import feedback

# The form's labels, so a message names the field as the coordinator sees it.
FIELD_LABELS = {
    "action": "Action",
    "reason": "If not suitable, why",
    "note": "Note",
    "action_date": "Date",
    "corrects": "Correcting entry",
}


class FeedbackIn(BaseModel):
    """An action a coordinator records for a person on their PCN's list (or a correction of one)."""

    action: str = Field(description="one of " + ", ".join(feedback.ACTIONS))
    reason: str | None = Field(
        None, description="with not_suitable: one of " + ", ".join(feedback.NOT_SUITABLE_REASONS)
    )
    note: str | None = Field(None, max_length=2000, description="free text for the team; never exported")
    action_date: date | None = Field(None, description="when it happened (default today; not in the future)")
    corrects: int | None = Field(
        None, description="action_id of this person's entry that this one replaces (append-only correction)"
    )


@dataclass(frozen=True)
class FormValues:
    """The form's fields exactly as typed (shown again when something must be fixed)."""

    action: str = ""
    reason: str = ""
    note: str = ""
    action_date: str = ""
    corrects: str = ""

    def body(self) -> FeedbackIn:
        """The typed body; InputError naming the field when the date or entry number is not one."""
        try:
            when = date.fromisoformat(self.action_date.strip()) if self.action_date.strip() else None
        except ValueError as error:
            raise InputError("feedback", "action_date", "a date (YYYY-MM-DD)", got=self.action_date) from error
        corrects = self.corrects.strip()
        if corrects and not corrects.isdigit():
            raise InputError("feedback", "corrects", "an entry number", got=corrects)
        return FeedbackIn.model_construct(
            action=self.action,
            reason=self.reason or None,
            note=self.note or None,
            action_date=when,
            corrects=int(corrects) if corrects else None,
        )


def explain(error: InputError) -> str:
    """What to fix, in the form's words."""
    label = FIELD_LABELS.get(error.field or "", error.field or "the form")
    if error.field == "action":
        return f"{label}: choose one of the actions in the list."
    if error.field == "reason" and error.got in (None, "None", "''"):
        return f"{label}: choose a reason, as the action is Not suitable."
    if error.field == "reason":
        return f"{label}: leave it empty unless the action is Not suitable."
    got = f" (you entered {error.got})" if error.got else ""
    return f"{label}: expected {error.expected}{got}."
