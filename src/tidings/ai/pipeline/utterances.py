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
    # General questions look like questions about a mail ("when is…", "how much…"),
    # but name nothing a mailbox holds.
    "what's the forecast for tomorrow?",
    "who is the president of France?",
    "what is a VPN?",
    "who wrote Hamlet?",
    "how much does a Tesla cost?",
    "when does summer start?",
    "how far is the moon?",
    "qu'est-ce qu'un routeur ?",
    "quelle heure est-il à Tokyo ?",
    "qui a écrit Les Misérables ?",
    "combien coûte une baguette en moyenne ?",
    "quand commence l'hiver ?",
    "quelle est la météo demain ?",
    "c'est quoi le DNS ?",
]

CLARIFY = [
    # No verb a tool could take: "delete it", "réponds-lui" go to their tool, and what
    # "it" is comes from what the user last saw.
    # French
    "fais-le",
    "vas-y",
    "et l'autre ?",
    "celui-là",
    "comme d'habitude",
    "le même",
    "et ensuite ?",
    "ok fais ça",
    # English
    "do it",
    "go ahead",
    "what about the other one?",
    "that one",
    "the usual",
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

# -- what the assistant does itself with what the tools find ---------------------------
# These classes exist only while the tools in play can serve them: a finder (a tool
# that declares ``_meta["tidings/finds"]``) for all three, a reader
# (``_meta["tidings/reads"]``) too for summaries.
SUMMARIZE = [
    # French
    "résume mes mails",
    "fais-moi un résumé de ma boîte de réception",
    "résumé de mes messages d'aujourd'hui",
    "quoi de neuf dans mes mails ?",
    "fais le point sur mes courriels",
    "résume le fil avec Bob",
    "résume les mails de la banque",
    "donne-moi un résumé des mails non lus",
    "qu'est-ce qui attend une réponse ?",
    "à quels mails dois-je répondre ?",
    "quels messages demandent une réponse ?",
    "mon résumé du jour",
    "un récapitulatif de mes mails de la semaine",
    "de quoi parlent mes derniers mails ?",
    # English
    "summarize my inbox",
    "summarise my emails",
    "give me a summary of my unread mail",
    "what's new in my inbox?",
    "catch me up on my email",
    "summarize the thread with Bob",
    "sum up the emails from the bank",
    "what needs an answer?",
    "which emails do I need to reply to?",
    "anything waiting for a reply from me?",
    "my daily digest",
    "give me a digest of this week's mail",
    "what are my latest emails about?",
    "brief me on today's messages",
]

COUNT = [
    # French
    "combien de mails non lus ?",
    "combien ai-je de messages non lus",
    "j'ai combien de mails de Bob ?",
    "combien de courriels dans la corbeille",
    "nombre de mails reçus cette semaine",
    "combien de messages m'a envoyés Alice ?",
    # English
    "how many unread emails do I have?",
    "how many mails did I get today",
    "count my unread messages",
    "how many emails from Bob?",
    "number of messages in the trash",
    "how many messages came in this week?",
]

ADDRESS = [
    # French
    "quelle est l'adresse de Bob ?",
    "c'est quoi le mail d'Alice",
    "donne-moi l'adresse e-mail de Marie",
    "quelle adresse a Pierre ?",
    "l'adresse de la banque",
    "comment joindre Sophie par mail ?",
    "t'as le mail de Julie ?",
    "son adresse, à Karim ?",
    # English
    "what is Bob's address?",
    "what's Alice's email address",
    "give me Marie's e-mail",
    "which address does Pierre use?",
    "email address of the bank",
    "how do I reach Sophie by email?",
    "what's Tom's email?",
    "do you have Julie's email?",
    "Karim's e-mail please",
]

# Pieces people add to any request: the router learns to see past them.
FILTERS = {
    "fr": [
        "de {person}",
        "d'{person}",
        "envoyés par {person}",
        "sur {topic}",
        "à propos de {topic}",
        "au sujet de {topic}",
        "concernant {topic}",
        "d'hier",
        "de cette semaine",
        "de la semaine dernière",
        "depuis lundi",
        "en mars",
        "de février",
        "non lus",
        "importants",
        "avec une pièce jointe",
        "de la boîte de réception",
        "dans les archives",
    ],
    "en": [
        "from {person}",
        "by {person}",
        "sent by {person}",
        "about {topic}",
        "regarding {topic}",
        "on {topic}",
        "from yesterday",
        "this week",
        "from last week",
        "since Monday",
        "in March",
        "from February",
        "unread",
        "flagged",
        "with an attachment",
        "in my inbox",
        "in the archive",
    ],
}
POLITE = {
    "fr": ["peux-tu", "tu peux", "pourrais-tu", "j'aimerais", "stp", "s'il te plaît", "merci de"],
    "en": ["can you", "could you", "please", "i'd like to", "would you", "hey,"],
}
TOPICS = ["dinner", "the invoice", "la facture", "la réunion", "the meeting", "les vacances"]

# Questions about what a message says: the assistant finds it, opens it and shows it
# (a capable model also answers from it, quarantined: see tidings.ai.digest).
ASK = [
    # French
    "quel est le montant de la facture d'électricité ?",
    "à quelle heure est le rendez-vous chez le dentiste ?",
    "quand a lieu la fête de l'école ?",
    "où se passe le repas de samedi ?",
    "qui m'a envoyé le contrat ?",
    "combien coûte la location ?",
    "combien dois-je payer pour l'assurance ?",
    "que dit Paul dans son dernier message ?",
    "qu'est-ce que Julie voulait ?",
    "c'est quand la réunion de parents ?",
    "de quoi parlait le mail de Thomas ?",
    "quand Sophie m'a-t-elle répondu ?",
    "qu'est-ce que la mairie demande ?",
    "il faut apporter quoi pour la sortie ?",
    "y a quoi dans le mail de Karim ?",
    # English
    "how much is the electricity bill?",
    "what time is the dentist appointment?",
    "when is the school party?",
    "where is Saturday's lunch?",
    "who sent me the contract?",
    "how much does the rental cost?",
    "what does Paul say in his last email?",
    "what did Julie want?",
    "when is the parents' evening?",
    "what was Thomas's email about?",
    "when did Sophie answer me?",
    "what does the city hall ask for?",
    "what do I need to bring for the trip?",
    "what's the deadline for the report?",
    "what's in Karim's email?",
    "what does Tom's mail say?",
]
