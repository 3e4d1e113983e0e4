"""A small Open Reward Standard environment for the ``type: ors`` tests, written the way the
``openreward`` SDK documents one: tasks per split, a prompt, and a terminal ``submit`` tool
whose ``ToolOutput.reward`` grades the answer (no reward for the answer "no reward please")."""

from openreward.environments import Environment, TextBlock, ToolOutput, terminal, tool
from pydantic import BaseModel

TASKS = {"test": [{"question": "2+2?", "answer": "4"}, {"question": "3+4?", "answer": "7"}]}


class Submission(BaseModel):
    answer: str


class Arithmetic(Environment):
    @classmethod
    def list_splits(cls):
        return list(TASKS)

    @classmethod
    def list_tasks(cls, split: str):
        return TASKS[split]

    def get_prompt(self):
        return [TextBlock(text=self.task_spec["question"])]

    @terminal
    @tool
    async def submit(self, params: Submission) -> ToolOutput:
        """Submit the final answer."""
        if params.answer == "no reward please":
            return ToolOutput(blocks=[TextBlock(text="not graded")], reward=None, finished=True)
        right = params.answer.strip() == self.task_spec["answer"]
        text = "correct" if right else f"wrong: expected {self.task_spec['answer']}"
        return ToolOutput(blocks=[TextBlock(text=text)], reward=1.0 if right else 0.0, finished=True)
