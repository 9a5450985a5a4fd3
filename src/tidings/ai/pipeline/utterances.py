"""Built-in example requests for the router's two classes that belong to no tool:
requests a tool cannot serve (chat, general knowledge) and requests too vague to act
on. Both are about the conversation, not about any tool, so they hold whatever tools
are in play. Tool classes learn from each tool's own templates and description.

Fillers give the templates' captures plausible values when sampling sentences.
"""

from __future__ import annotations

NO_TOOL = [
    # French
    "bonjour",
    "salut, ça va ?",
    "merci",
    "merci, c'est parfait",
    "au revoir",
    "qui es-tu ?",
    "que sais-tu faire ?",
    "raconte-moi une histoire",
    "donne-moi une recette de crêpes",
    "quelle est la capitale de l'Australie ?",
    "combien font 345 plus 78 ?",
    "explique-moi la photosynthèse",
    "quel jour sommes-nous ?",
    "écris un haïku sur l'automne",
    "comment dit-on merci en allemand ?",
    "quelle est la différence entre POP et IMAP ?",
    "qu'est-ce qu'un mail de phishing ?",
    "donne-moi des idées de cadeau pour ma sœur",
    "résume la révolution française en trois phrases",
    "comment faire un nœud de cravate ?",
    "quel est le plus long fleuve du monde ?",
    "corrige l'orthographe de cette phrase : je suis allé a la plage",
    "propose-moi un nom pour mon chat",
    "il fait beau aujourd'hui",
    "je suis fatigué",
    "c'est quoi une adresse électronique ?",
    "comment rédiger une lettre de motivation ?",
    "que penses-tu de l'intelligence artificielle ?",
    # English
    "hi there",
    "good morning",
    "thanks a lot",
    "bye",
    "who are you?",
    "what can you do?",
    "tell me a story",
    "give me a pancake recipe",
    "what is the capital of Canada?",
    "how much is 15 times 4?",
    "explain quantum computing simply",
    "what day is it today?",
    "write a short poem about the sea",
    "how do you say hello in Spanish?",
    "what does SMTP stand for?",
    "what is spam?",
    "suggest a name for my dog",
    "summarize the plot of Hamlet",
    "how tall is Mount Everest?",
    "fix the grammar: he go to school",
    "I'm bored",
    "what's a good way to learn Python?",
    "how should I format a formal letter?",
    "is it going to rain this weekend?",
]

CLARIFY = [
    # French
    "fais-le",
    "vas-y",
    "envoie",
    "et l'autre ?",
    "celui-là",
    "pareil pour lui",
    "comme d'habitude",
    "refais-le",
    "le même",
    "supprime-le",
    "réponds-lui",
    "et ensuite ?",
    "mets-le là-bas",
    "ok fais ça",
    # English
    "do it",
    "go ahead",
    "send it",
    "what about the other one?",
    "that one",
    "same for her",
    "the usual",
    "do that again",
    "delete it",
    "reply to him",
    "put it there",
    "and then?",
]

PEOPLE = [
    "Alice",
    "Bob",
    "Marie",
    "Jean",
    "Sophie",
    "Pierre",
    "Lucas",
    "Emma",
    "John",
    "Sarah",
    "David",
    "Laura",
    "camille@example.org",
    "tom@example.com",
]

DAYS = [
    "hier",
    "lundi",
    "la semaine dernière",
    "il y a 3 jours",
    "ce matin",
    "le 2 mars",
    "yesterday",
    "Monday",
    "last week",
    "two days ago",
    "this morning",
    "March 3",
]

TEXT = [
    "je serai en retard",
    "la réunion est reportée à jeudi",
    "merci pour ton aide",
    "le devis est validé",
    "on se voit demain",
    "la facture de mars",
    "les billets de train",
    "le rapport trimestriel",
    "I'll be late",
    "the meeting is moved to Thursday",
    "thanks for your help",
    "the quote is approved",
    "see you tomorrow",
    "the March invoice",
    "the train tickets",
    "the quarterly report",
]

IDS = ["3", "12", "27", "104", "58"]
