"""Short function-word lists for the lexical index (kept small: BM25's IDF does the rest)."""

_EN = """a an the and or but if then else of to in on at by for with from as is are was were be been being
have has had do does did not no nor so than too very can could will would shall should may might must
this that these those it its i me my we our you your he him his she her they them their what which who
whom whose when where why how all any both each few more most other some such only own same just into
about above below over under again further once here there out up down off until while during before after
between through per also"""
_FR = """le la les l un une des du de d et ou mais donc or ni car à a au aux en dans par pour sur sous avec
sans chez ce cet cette ces c qui que qu quoi dont où il ils elle elles on nous vous je j tu me m te t se s
lui leur leurs son sa ses mon ma mes ton ta tes notre nos votre vos est sont être été était étaient a ont
avoir avait ne n pas plus ou y si comme aussi très tout tous toute toutes même quel quelle quels quelles"""
_DE = """der die das den dem des ein eine einer eines einem einen und oder aber doch sondern denn in im an am
auf aus bei mit nach seit von vom zu zum zur für über unter vor hinter neben zwischen durch gegen ohne um
ist sind war waren sein bin bist seid wird werden wurde wurden hat haben hatte hatten es er sie wir ihr ich
du man sich nicht kein keine auch noch nur schon sehr so wie als wenn dass ob was wer wo wann warum welche
welcher welches dieser diese dieses jener alle allem allen aller alles"""
_ES = """el la los las lo un una unos unas y e o u pero sino ni de del a al en con por para sin sobre entre
hasta desde hacia que qué quien quién cual cuál cuales donde dónde cuando cuándo como cómo es son era eran
fue fueron ser estar está están ha han he hay se su sus mi mis tu tus nuestro nuestra le les me te nos os
yo tú él ella ellos ellas no sí muy más menos también ya este esta estos estas ese esa esos esas todo todos"""

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(_EN.split()),
    "fr": frozenset(_FR.split()),
    "de": frozenset(_DE.split()),
    "es": frozenset(_ES.split()),
}
