"""A user study's definition: conditions, tasks, time limit and questionnaire (as data or a TOML
file), and each participant's counterbalanced sequence."""


from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from vt_core.core.design import balanced_latin_square
from vt_core.crowd import StudyError, Text, parse_definition, read_toml, repeated

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
TLX_SCALES = {  # raw NASA-TLX: the subscale, its question, and the words at 0 and at 100
    "tlx_mental": ("Mental demand", "How mentally demanding was the task?", "Very low", "Very high"),
    "tlx_physical": ("Physical demand", "How physically demanding was the task?", "Very low", "Very high"),
    "tlx_temporal": ("Temporal demand", "How hurried or rushed was the pace of the task?", "Very low", "Very high"),
    "tlx_performance": ("Performance", "How successful were you in accomplishing what you were asked to do?",
                        "Perfect", "Failure"),
    "tlx_effort": ("Effort", "How hard did you have to work to accomplish your level of performance?",
                   "Very low", "Very high"),
    "tlx_frustration": ("Frustration", "How insecure, discouraged, irritated, stressed, and annoyed were you?",
                        "Very low", "Very high"),
}
TLX_STEP = 5
SUCCESS_LABELS = ("Not at all successful", "Not successful", "Somewhat unsuccessful", "Neither",
                  "Somewhat successful", "Successful", "Very successful")


class UserStudyError(StudyError):
    """A user-study operation that cannot be done; the message says why."""


# -- the definition ----------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # as crowd study files: no coercion


class UserCondition(_Model):
    name: Key                         # in session ids, tables and CSV files, e.g. "tool"
    interface: Literal["tool", "control"]
    label: Text                       # what participants read, e.g. "Visionary Tuning"
    instructions: Text                # how to work in this condition, shown with the task


class Task(_Model):
    key: Key
    title: Text
    brief: Text                       # the chatbot brief the participant reads
    goal: Text                        # the task project's goal
    audience: str = ""
    starting_prompt: Text             # the task project's first prompt version


class Questionnaire(_Model):
    success_question: Text = "How successful were you in specifying how the chatbot should behave?"
    success_labels: list[Text] = Field(default_factory=lambda: list(SUCCESS_LABELS), min_length=2, max_length=11)
    free_text_question: Text = "Is there anything else you want to tell us about this task?"


class UserStudyDefinition(_Model):
    name: Text
    description: str = ""
    participants: int = Field(ge=2)   # the links made when the study is created; more can be added
    time_limit_minutes: int = Field(ge=1, le=600)
    task_order: Literal["crossed", "fixed"] = "crossed"   # fixed: task i always comes i-th
    conditions: list[UserCondition]
    tasks: list[Task]
    questionnaire: Questionnaire = Field(default_factory=Questionnaire)
    welcome_text: Text = ("Thank you for taking part. You will specify two chatbots, one after the other, each "
                          "with a different interface. Each task has a time limit; a short questionnaire follows it.")
    end_text: Text = "You have finished both tasks. Thank you! Please tell the researcher that you are done."

    @field_validator("conditions")
    @classmethod
    def _two_conditions(cls, conditions: list[UserCondition]) -> list[UserCondition]:
        if len(conditions) != 2:
            raise ValueError(f"a user study compares exactly 2 conditions (the order check needs two), "
                             f"found {len(conditions)}")
        if conditions[0].name == conditions[1].name:
            raise ValueError(f"condition names must differ; both are {conditions[0].name!r}")
        return conditions

    @field_validator("tasks")
    @classmethod
    def _unique_tasks(cls, tasks: list[Task]) -> list[Task]:
        if duplicates := repeated(t.key for t in tasks):
            raise ValueError(f"task keys must be unique; repeated: {', '.join(duplicates)}")
        return tasks

    @model_validator(mode="after")
    def _one_task_per_condition(self) -> UserStudyDefinition:
        if len(self.tasks) != len(self.conditions):
            raise ValueError(f"tasks: one task per condition is needed, so {len(self.conditions)}; "
                             f"found {len(self.tasks)}")
        return self

    def condition(self, name: str) -> UserCondition:
        for condition in self.conditions:
            if condition.name == name:
                return condition
        raise UserStudyError(f"user study {self.name!r} has no condition {name!r} "
                             f"(it has {', '.join(c.name for c in self.conditions)})")

    def task(self, key: str) -> Task:
        return next(t for t in self.tasks if t.key == key)

    @property
    def reference(self) -> str:
        """The condition the analysis compares against: the control interface, else the first."""
        return next((c.name for c in self.conditions if c.interface == "control"), self.conditions[0].name)

    @property
    def analysed_conditions(self) -> tuple[str, str]:
        """(reference a, other b): every comparison is b minus a."""
        other = next(c.name for c in self.conditions if c.name != self.reference)
        return self.reference, other


def parse_user_study(data: dict, source: str = "user study definition") -> UserStudyDefinition:
    """Validate a definition given as data; every problem, naming its field, in one StudyFileError."""
    return parse_definition(UserStudyDefinition, data, source)


def load_user_study_file(path: str | Path) -> UserStudyDefinition:
    return parse_user_study(read_toml(path), str(path))


def sequence(definition: UserStudyDefinition, index: int) -> list[tuple[str, str]]:
    """The (condition, task) pairs, in the order done, of the participant with 0-based `index`."""
    square = balanced_latin_square(len(definition.conditions))
    conditions = square[index % len(square)]
    tasks = square[(index // len(square)) % len(square)] if definition.task_order == "crossed" \
        else range(len(definition.tasks))
    return [(definition.conditions[c].name, definition.tasks[t].key) for c, t in zip(conditions, tasks, strict=True)]


