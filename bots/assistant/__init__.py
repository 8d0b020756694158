"""The assistant bot's parts that stand on their own: language models, tools, sentences, context, turns, metrics.

``llm`` streams an answer from the first provider that serves; ``tools``
are the actions a model may ask for, checked before any runs; ``sentences``
turns the token stream into speakable sentences and cuts an endless answer;
``context`` is the conversation as it was heard, within a token budget;
``answer`` runs one answer (model rounds, tools, sentences); ``turns``
decides when someone finished speaking, whether the bot was addressed, and
what a voice over the bot's means; ``metrics`` measures each turn.
"""
