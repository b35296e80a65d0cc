"""LLM mode searches the knowledge base in both its languages: the question, and the question as the model translates
it (one more call), each passage once. The model's "not in the documents" still stands."""

from __future__ import annotations

from typing import Any

from bot.core.assistant import AnswerConfig, Assistant
from knowledge.retrieve import HybridSearcher
from tests.fakes.openai import FakeOpenAI, fenced_passages
from tests.test_llm import assistant, number_of

CRYO_EM = "冷冻电镜一次多少钱？"  # the fee is in an English table row only
TRANSLATED = "How much does one session of the cryo-electron microscope cost?"
EQUIPMENT = "resources/equipment.csv"


def bilingual(searcher: HybridSearcher, server: FakeOpenAI, cross_language: bool = True) -> Assistant:
    bot = assistant(searcher, server)
    bot.config = AnswerConfig(cross_language=cross_language)
    return bot


def translator(write: Any) -> Any:
    """A model that translates when asked to, and answers with `write` when given passages."""

    def respond(request: dict[str, Any]) -> str:
        return TRANSLATED if fenced_passages(request["messages"]) is None else write(request)

    return respond


async def test_a_question_is_also_searched_in_the_knowledge_bases_other_language(searcher, server) -> None:
    server.reply_with(translator(lambda r: f"冷冻电镜每次收费 9,800 元 [{number_of(r, '9,800')}]。"))
    answer = await bilingual(searcher, server).answer(CRYO_EM)
    translation, final = server.chat_requests
    assert "into English" in translation.prompt and translation.body["messages"][-1]["content"] == CRYO_EM
    assert number_of(final.body, "9,800") == 1, "the row the English words name comes first"
    assert answer.mode == "llm" and answer.answered and answer.sources[0].path == EQUIPMENT
    assert "9,800" in answer.answer


async def test_without_the_translation_the_row_is_not_first(searcher, server) -> None:
    server.reply_with(translator(lambda r: f"冷冻电镜每次收费 9,800 元 [{number_of(r, '9,800')}]。"))
    await bilingual(searcher, server, cross_language=False).answer(CRYO_EM)
    [final] = server.chat_requests
    assert number_of(final.body, "9,800") != 1


async def test_the_models_not_in_the_documents_is_still_honoured(searcher, server) -> None:
    server.reply_with(translator(lambda _request: "NOT_FOUND"))
    answer = await bilingual(searcher, server).answer("冷冻电镜的租金补贴是多少？")
    assert len(server.chat_requests) == 2
    assert answer.mode == "llm" and not answer.answered and not answer.sources
