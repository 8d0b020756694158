"""Turn taking: when someone finished speaking, whether the bot was addressed, what a voice over the bot means.

``endpointing`` decides each participant's end of turn (the segmenter's
events and an endpointing delay); ``addressing`` whether a turn is for the
bot (its name or a wake word, in a lobby of more than two where a setting
asks for it); ``bargein`` what speech over the bot means (pause, stop,
resume); ``echo`` whether that speech is the bot's own voice coming back.
All pure logic on a clock the caller passes in.
"""
